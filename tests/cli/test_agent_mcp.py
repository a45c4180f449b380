#!/usr/bin/env python3
"""clawnet agent's MCP client end to end: `clawnet agent run --mcp-config` against
  - a server built with the official SDK (PyPI `mcp` 2.3.0, tests/cli/mcp_sdk_server.py) over stdio
    and over streamable HTTP on 127.0.0.1: the tools the model is offered (names, schemas compared
    with the SDK's own tools/list, annotations -> idempotency class in the journal), results, a
    tool error, image content, invalid arguments refused by the runtime's schema check where the
    jsonschema package (the SDK's dependency) agrees they are invalid, executions counted;
  - a fault-injecting server of our own (tests/cli/mcp_fault_server.py), stdio and HTTP:
    notifications before the initialize result, paginated tools/list, garbage lines on stdout,
    server requests (ping answered, unknown method refused with -32601) interleaved with
    responses, a server that dies mid-call (structured error, restarted for the next call), a slow
    call / slow SSE stream (timeout, notifications/cancelled with the right requestId, the late
    answer dropped), Mcp-Session-Id and MCP-Protocol-Version headers, DELETE at the end;
  - configuration errors with clear messages.
Every subprocess and wait is bounded in time.

Usage: test_agent_mcp.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from agent_scripted_model import ScriptedModel  # noqa: E402
from agent_test_support import SdkHttpServer, call, free_port, sdk_stdio_server, wait_port, wait_port_file  # noqa: E402

CLAWNET = sys.argv[1]
PY = sys.executable
failures = []
checks = [0]


def check(cond, what):
    checks[0] += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


class Run:
    """One `agent run` with a scripted model and an MCP config; results read back afterwards.
    With keep=True the model stays up for resume() until close()."""

    def __init__(self, root, name, turns, servers, timeout=120, env=None, keep=False):
        self.dir = os.path.join(root, name)
        os.makedirs(os.path.join(self.dir, "ws"))
        self.home = os.path.join(self.dir, "home")
        self.log = os.path.join(self.dir, "requests.jsonl")
        task = os.path.join(self.dir, "TASK.md")
        with open(task, "w") as f:
            f.write(f"Task {name}\n")
        cfg = os.path.join(self.dir, "mcp.json")
        with open(cfg, "w") as f:
            json.dump({"mcpServers": servers}, f)
        self.model = ScriptedModel({"turns": turns}, self.log).start()
        e = dict(os.environ)
        e.pop("CLAWNET_AGENT_CRASH_AT", None)
        e.update(env or {})
        try:
            self.proc = subprocess.run([CLAWNET, "agent", "run", task, "--workspace", os.path.join(self.dir, "ws"),
                                        "--home", self.home, "--model-url", self.model.url, "--id", name,
                                        "--mcp-config", cfg], capture_output=True, text=True, timeout=timeout, env=e)
        finally:
            if not keep:
                self.model.stop()
        self.id = name

    def resume(self, timeout=120):
        e = dict(os.environ)
        e.pop("CLAWNET_AGENT_CRASH_AT", None)
        return subprocess.run([CLAWNET, "agent", "resume", self.id, "--home", self.home], capture_output=True,
                              text=True, timeout=timeout, env=e)

    def close(self):
        self.model.stop()

    def requests(self):
        return [json.loads(line) for line in open(self.log)] if os.path.exists(self.log) else []

    def tool_results(self):
        """The tool messages of the last request, in order: what the model received."""
        return [m["content"] for m in self.requests()[-1]["body"]["messages"] if m["role"] == "tool"]

    def offered(self):
        return {t["function"]["name"]: t["function"] for t in self.requests()[0]["body"]["tools"]}

    def events(self, kind):
        with sqlite3.connect(os.path.join(self.home, self.id, "journal.db")) as c:
            return [json.loads(p) for (p,) in c.execute("SELECT payload FROM events WHERE kind = ? ORDER BY seq",
                                                        (kind,))]


def sdk_oracle():
    """The SDK's own view of its tools (in process): name -> (inputSchema, annotations)."""
    import mcp_sdk_server
    tools = asyncio.run(mcp_sdk_server.server.list_tools())
    out = {}
    for t in tools:
        d = t.model_dump(by_alias=True, mode="json", exclude_none=True)
        out[d["name"]] = (d["inputSchema"], d.get("annotations") or {})
    return out


SDK_TURNS = [
    {"content": None, "tool_calls": [
        call("sdk__shout", text="hello"),
        call("sdk__measure", points=[{"x": 0, "y": 0}, {"x": 3, "y": 4}], unit="km", scale=2),
        call("sdk__measure", points=[{"x": 0, "y": 0}], unit="mm"),              # enum
        call("sdk__measure", points=[{"x": 0}]),                                  # nested required
        call("sdk__tally", item="apple", count=3),
        call("sdk__tally", item="pear", count=1000),                              # range
        call("sdk__refuse", reason="no"),
        call("sdk__pixel")]},
    {"content": None, "tool_calls": [call("sdk__tally", item="plum")]},
    {"content": "done"},
]
INVALID = {2: ("unit", "must be one of"), 3: ("points[0].y", "missing required"), 5: ("count", "must be <= 100")}


def check_sdk_run(r, ledger, what):
    check(r.proc.returncode == 0 and "status finished" in r.proc.stdout,
          f"{what}: run finishes: {r.proc.stdout} {r.proc.stderr[-2000:]}")
    if not r.requests():
        return
    oracle = sdk_oracle()
    offered = r.offered()
    for name, (schema, _) in oracle.items():
        fn = offered.get("sdk__" + name)
        check(fn is not None and fn["parameters"] == schema, f"{what}: sdk__{name} offered with the SDK's inputSchema")
    res = r.tool_results()
    check(len(res) == 9, f"{what}: 9 tool results: {res}")
    if len(res) != 9:
        return
    check(res[0] == "HELLO" and res[1] == "path: 10 km", f"{what}: results {res[:2]}")
    calls = SDK_TURNS[0]["tool_calls"]
    for i, (field, text) in INVALID.items():
        err = json.loads(res[i])
        check(err["error"] == "invalid_arguments" and field in err["message"] and text in err["message"],
              f"{what}: call {i} refused before dispatch: {res[i]}")
        schema = oracle[calls[i]["name"][5:]][0]
        check(not jsonschema.Draft202012Validator(schema).is_valid(calls[i]["arguments"]),
              f"{what}: jsonschema agrees call {i} is invalid")
    check(res[4] == "recorded 3 x apple", f"{what}: tally result {res[4]}")
    err = json.loads(res[6])
    check(err["error"] == "tool_error" and "refused: no" in err["message"], f"{what}: isError result: {res[6]}")
    check(res[7] == "[image: image/png, 12 bytes base64]", f"{what}: image summarised: {res[7]}")
    check(res[8] == "recorded 1 x plum", f"{what}: second step: {res[8]}")
    check(open(ledger).read() == "apple 3\nplum 1\n", f"{what}: each valid tally ran exactly once")
    classes = {e["name"]: e["class"] for e in r.events("tool_intent")}
    want = {"sdk__shout": "read_only", "sdk__measure": "idempotent", "sdk__tally": "side_effect",
            "sdk__refuse": "side_effect", "sdk__pixel": "read_only"}
    check(classes == want, f"{what}: idempotency classes from annotations: {classes}")
    intents = len(r.events("tool_intent"))
    check(intents == 6, f"{what}: invalid calls never dispatched ({intents} intents)")
    v = subprocess.run([CLAWNET, "agent", "verify", r.id, "--home", r.home], capture_output=True, text=True, timeout=60)
    check(v.returncode == 0, f"{what}: verify: {v.stdout} {v.stderr}")


def test_sdk_stdio(root):
    ledger = os.path.join(root, "sdk-stdio.ledger")
    r = Run(root, "sdk-stdio", SDK_TURNS, {"sdk": sdk_stdio_server(PY, root, "sdk-stdio")})
    check_sdk_run(r, ledger, "sdk stdio")


def test_sdk_http(root):
    ledger = os.path.join(root, "sdk-http.ledger")
    with SdkHttpServer(PY, root, "sdk-http") as srv:
        if not check(srv.ok, "sdk http server listens"):
            return
        r = Run(root, "sdk-http", SDK_TURNS, {"sdk": {"url": srv.url, "headers": {"X-Test": "1"}}})
        check_sdk_run(r, ledger, "sdk http")


FAULT_TURNS = [
    {"content": None, "tool_calls": [call("fault__echo", text="one"), call("fault__mixed"), call("fault__fails"),
                                     call("fault__odd_name_with_spaces")]},
    {"content": None, "tool_calls": [call("fault__crash")]},
    {"content": None, "tool_calls": [call("fault__bump", by=2), call("fault__slow"), call("fault__echo", text="two")]},
    {"content": None, "tool_calls": [call("fault__bump", by=11)]},
    {"content": "done"},
]


def fault_log(path):
    return [json.loads(line) for line in open(path)]


def check_fault_run(r, log, what, stdio):
    check(r.proc.returncode == 0 and "status finished" in r.proc.stdout,
          f"{what}: run finishes: {r.proc.stdout} {r.proc.stderr[-2000:]}")
    if not r.requests():
        return
    names = [n for n in r.offered() if n.startswith("fault__")]
    check(names == ["fault__echo", "fault__bump", "fault__crash", "fault__slow", "fault__mixed", "fault__fails",
                    "fault__odd_name_with_spaces", "fault__expire", "fault__cut"], f"{what}: all 9 pages of tools/list, in order: {names}")
    res = r.tool_results()
    check(len(res) == 9, f"{what}: 9 results: {res}")
    if len(res) != 9:
        return
    check(res[0] == "echo: one", f"{what}: echo through notifications, garbage and server requests: {res[0]}")
    check(res[1] == "first\n[image: image/png, 8 bytes base64]\nresource text\n[resource link: file:///x.bin (x)]",
          f"{what}: mixed content: {res[1]!r}")
    check(json.loads(res[2]) == {"error": "tool_error", "message": "the tool failed on purpose"}, f"{what}: {res[2]}")
    check(res[3] == "odd ok", f"{what}: sanitised name reaches the server's own name")
    crash = json.loads(res[4])
    check(crash["error"] == "tool_error" and "restarted" in crash["message"] and
          ("exited with status 3" in crash["message"] if stdio else True), f"{what}: crash: {res[4]}")
    check(res[5] == "bumped", f"{what}: the call after the crash works: {res[5]}")
    slow = json.loads(res[6])
    check(slow["error"] == "tool_error" and "cancelled" in slow["message"], f"{what}: slow call times out: {res[6]}")
    check(res[7] == "echo: two", f"{what}: the call after the timeout works (late answer dropped): {res[7]}")
    check(json.loads(res[8])["error"] == "invalid_arguments", f"{what}: maximum 10 enforced: {res[8]}")
    check(open(log + ".bumps").read() == "2\n", f"{what}: bump ran exactly once")
    msgs = [e["msg"] for e in fault_log(log)]
    inits = [m for m in msgs if m.get("method") == "initialize"]
    check(len(inits) >= 2 and all(m["params"]["protocolVersion"] == "2025-11-25" for m in inits),
          f"{what}: initialize sent with our latest version, again after the crash ({len(inits)})")
    check(sum(1 for m in msgs if m.get("method") == "notifications/initialized") == len(inits),
          f"{what}: notifications/initialized after every initialize")
    slow_call = [m for m in msgs if m.get("method") == "tools/call" and m["params"]["name"] == "slow"]
    cancels = [m for m in msgs if m.get("method") == "notifications/cancelled"]
    check(len(slow_call) == 1 and len(cancels) == 1 and cancels[0]["params"]["requestId"] == slow_call[0]["id"],
          f"{what}: notifications/cancelled names the slow call: {cancels}")
    pongs = [m for m in msgs if "result" in m and m.get("id", 0) >= 1000]
    refusals = [m for m in msgs if "error" in m and m.get("id", 0) >= 1000]
    check(pongs and all(m["result"] == {} for m in pongs), f"{what}: pings answered with an empty result")
    check(refusals and all(m["error"]["code"] == -32601 for m in refusals), f"{what}: unknown server requests -> -32601")
    kinds = [e["class"] for e in r.events("tool_intent") if e["name"] in ("fault__echo", "fault__bump", "fault__crash")]
    check(set(kinds) == {"read_only", "side_effect", "idempotent"}, f"{what}: classes {kinds}")
    if not stdio:
        posts = [e for e in fault_log(log) if "http_headers_for" in e["msg"]]
        after = [e["headers"] for e in posts if e["msg"]["http_headers_for"] != "initialize"]
        check(all("Mcp-Session-Id" in h and h.get("MCP-Protocol-Version") == "2025-06-18" for h in after),
              f"{what}: session id and negotiated protocol version on every later POST")
        check(all(e["headers"].get("Accept") == "application/json, text/event-stream" and
                  e["headers"].get("Authorization") == "Bearer t0ken" for e in posts),
              f"{what}: Accept header and configured headers on every POST")
        check(any(e["msg"].get("http") == "DELETE" for e in fault_log(log)), f"{what}: session ended with DELETE")


def test_fault_stdio(root):
    log = os.path.join(root, "fault-stdio.log")
    r = Run(root, "fault-stdio", FAULT_TURNS,
            {"fault": {"command": PY, "args": [os.path.join(HERE, "mcp_fault_server.py"), "stdio", log, "3"],
                       "timeout_s": 2}})
    check_fault_run(r, log, "fault stdio", True)
    starts = open(log + ".starts").read().split()
    # once for the run (its check before the run is created hands its session over), once after the crash
    check(len(starts) == 2, f"fault stdio: started once, restarted exactly once after the crash: {starts}")
    check(r.proc.stderr.count("ignored a line that is not JSON-RPC (not JSON): this is not json") >= 5,
          "fault stdio: garbage lines reported on progress")


def test_fault_http(root):
    log = os.path.join(root, "fault-http.log")
    port_file = os.path.join(root, "fault-http.port")
    srv = subprocess.Popen([PY, os.path.join(HERE, "mcp_fault_server.py"), "http", log, port_file, "3"])
    try:
        port = wait_port_file(port_file, srv)
        if not check(port is not None, "fault http server started"):
            return
        # "crash" over HTTP kills the whole server: a second one takes the same port is not
        # possible here, so the crash turn is answered by a connection error: restart fails
        # once, then... keep the HTTP run to the calls that make sense for a remote server.
        turns = [FAULT_TURNS[0], FAULT_TURNS[2], FAULT_TURNS[3],
                 {"content": None, "tool_calls": [call("fault__expire"), call("fault__echo", text="three")]},
                 {"content": "done"}]
        r = Run(root, "fault-http", turns, {"fault": {"url": f"http://127.0.0.1:{port}/mcp", "timeout_s": 2,
                                                     "headers": {"Authorization": "Bearer t0ken"}}})
        check(r.proc.returncode == 0, f"fault http: run finishes: {r.proc.stdout} {r.proc.stderr[-2000:]}")
        res = r.tool_results() if r.requests() else []
        check(len(res) == 10, f"fault http: 10 results: {res}")
        if len(res) == 10:
            check(res[8] == "sessions forgotten" and res[9] == "echo: three",
                  f"fault http: an expired session (404) is re-initialized and the call sent again: {res[8:]}")
            check(res[0] == "echo: one" and res[3] == "odd ok" and res[4] == "bumped", f"fault http: {res[:5]}")
            check(res[1].startswith("first\n[image: image/png"), f"fault http: mixed over SSE: {res[1]!r}")
            check("cancelled" in json.loads(res[5])["message"], f"fault http: slow stream times out: {res[5]}")
            check(res[6] == "echo: two", f"fault http: next call after the timeout: {res[6]}")
        msgs = [e for e in fault_log(log)]
        posts = [e for e in msgs if "http_headers_for" in e["msg"]]
        after = [e["headers"] for e in posts if e["msg"]["http_headers_for"] != "initialize"]
        check(after and all("Mcp-Session-Id" in h and h.get("MCP-Protocol-Version") == "2025-06-18" for h in after),
              "fault http: session id and negotiated protocol version on every later POST")
        check(all(e["headers"].get("Accept") == "application/json, text/event-stream" and
                  e["headers"].get("Authorization") == "Bearer t0ken" for e in posts),
              "fault http: Accept and configured headers on every POST")
        check(any(e["msg"].get("http") == "DELETE" for e in msgs), "fault http: session ended with DELETE")
        inits = [e for e in posts if e["msg"]["http_headers_for"] == "initialize"]
        # one session for the check and the run together (handed over), one after the 404
        check(len(inits) == 2, f"fault http: initialize for the run, and after the 404 ({len(inits)})")
        echo3 = [e for e in msgs if e["msg"].get("method") == "tools/call" and e["msg"]["params"]["arguments"] == {"text": "three"}]
        check(len(echo3) == 1, f"fault http: the resent call executed once: {len(echo3)}")
        cancels = [e["msg"] for e in msgs if e["msg"].get("method") == "notifications/cancelled"]
        check(len(cancels) == 1, f"fault http: one notifications/cancelled: {cancels}")
        pongs = [e["msg"] for e in msgs if "result" in e["msg"] and e["msg"].get("id", 0) >= 1000]
        check(pongs and all(m["result"] == {} for m in pongs), "fault http: pings from the SSE stream answered")
    finally:
        srv.terminate()
        srv.wait(timeout=30)


def test_http_server_restart(root):
    """An HTTP server that dies mid-call (the fault server's crash tool exits the whole process):
    the call gets a structured error; a watcher starts a new server on the same port, and the next
    call opens a new session (initialize again) and works."""
    import threading
    log = os.path.join(root, "fault-restart.log")
    port_file = os.path.join(root, "fault-restart.port")
    port = free_port()
    argv = [PY, os.path.join(HERE, "mcp_fault_server.py"), "http", log, port_file, "3", str(port)]
    procs = [subprocess.Popen(argv)]
    stop = threading.Event()

    def watcher():
        while not stop.is_set():
            if procs[-1].poll() is not None and len(procs) < 3:
                procs.append(subprocess.Popen(argv))
            time.sleep(0.02)

    t = threading.Thread(target=watcher, daemon=True)
    try:
        if not check(wait_port(port, procs[0], timeout=30), "fault http (restart) server listens"):
            return
        t.start()
        # Until the new server listens, a restart attempt fails ("could not be restarted", a
        # structured error); attempts back off 0.5, 1, 2, 4 s, so four calls span a slow start.
        turns = [{"content": None, "tool_calls": [call("fault__echo", text="before")]},
                 {"content": None, "tool_calls": [call("fault__crash")]}]
        turns += [{"content": None, "tool_calls": [call("fault__echo", text=f"after{k}")]} for k in range(4)]
        turns += [{"content": "done"}]
        r = Run(root, "fault-http-restart", turns, {"fault": {"url": f"http://127.0.0.1:{port}/mcp", "timeout_s": 5}})
        check(r.proc.returncode == 0, f"http restart: run finishes: {r.proc.stdout} {r.proc.stderr[-2000:]}")
        res = r.tool_results() if r.requests() else []
        ok = [i for i, x in enumerate(res) if x.startswith("echo: after")]
        check(len(res) == 6 and res[0] == "echo: before" and ok and ok == list(range(ok[0], 6)),
              f"http restart: the calls before the crash and from the restart on work: {res}")
        if len(res) == 6:
            err = json.loads(res[1])
            check(err["error"] == "tool_error" and "restarted" in err["message"], f"http restart: crash: {res[1]}")
            for x in res[2:ok[0] if ok else 6]:
                check("could not be restarted" in json.loads(x)["message"], f"http restart: a failed attempt: {x}")
        check(len(procs) == 2, f"http restart: the server died once ({len(procs)} started)")
        inits = [e for e in fault_log(log) if e["msg"].get("http_headers_for") == "initialize"]
        check(len(inits) == 2, f"http restart: initialize for the run and after the crash ({len(inits)})")
        check("restarted: fault-server 1.0" in r.proc.stderr, "http restart: restart reported on progress")
    finally:
        stop.set()
        for p in procs:
            p.terminate()
            p.wait(timeout=30)


def test_crash_resume(root):
    """Kill -9 (CLAWNET_AGENT_CRASH_AT) at every journal commit of a run calling a side-effecting
    MCP tool (bump: no annotations) and a read-only one (echo: readOnlyHint), then resume: the
    annotation decides, as for built-in tools, whether a call cut off after its intent is re-run
    (echo) or reported as outcome unknown (bump, never executed twice)."""
    turns = [{"content": None, "tool_calls": [call("fault__bump", by=1), call("fault__echo", text="x")]},
             {"content": "done"}]
    crashed = reruns = unknowns = 0
    for k in range(1, 40):
        log = os.path.join(root, f"crash{k}.log")
        server = {"fault": {"command": PY, "args": [os.path.join(HERE, "mcp_fault_server.py"), "stdio", log],
                            "timeout_s": 10}}
        r = Run(root, f"crash{k}", turns, server, env={"CLAWNET_AGENT_CRASH_AT": str(k)}, keep=True)
        try:
            if r.proc.returncode == 0:
                break  # fewer commits than k: every commit point was covered
            crashed += 1
            check(r.proc.returncode == 137, f"crash at commit {k}: exit {r.proc.returncode} {r.proc.stderr[-500:]}")
            p = r.resume()
            check(p.returncode == 0 and "status finished" in p.stdout, f"resume after commit {k}: {p.stdout} {p.stderr}")
            bumps = open(log + ".bumps").read().split() if os.path.exists(log + ".bumps") else []
            check(len(bumps) <= 1, f"crash at commit {k}: bump executed {len(bumps)} times")
            results = {e["call_id"]: e for e in r.events("tool_result")}
            bump, echo = results.get("call_0_0"), results.get("call_0_1")
            if not check(bump and echo, f"crash at commit {k}: both calls have a result: {list(results)}"):
                continue
            if bump["outcome"] == "unknown":
                unknowns += 1
                check("outcome_unknown" in bump["content"], f"crash at commit {k}: unknown shown to the model")
            else:
                check(bump["outcome"] == "ok" and len(bumps) == 1, f"crash at commit {k}: bump {bump} {bumps}")
            check(echo["outcome"] == "ok" and echo["content"] == "echo: x", f"crash at commit {k}: echo {echo}")
            reruns += bool(echo.get("rerun"))
            v = subprocess.run([CLAWNET, "agent", "verify", r.id, "--home", r.home], capture_output=True, text=True,
                               timeout=60)
            check(v.returncode == 0, f"crash at commit {k}: verify {v.stdout} {v.stderr}")
        finally:
            r.close()
    print(f"MCP crash enumeration: {crashed} commit points, {unknowns} outcome unknown, {reruns} re-run")
    check(crashed >= 5, f"crash points covered: {crashed}")
    check(unknowns >= 1 and reruns >= 1,
          f"a cut-off side-effecting MCP call became outcome unknown ({unknowns}) and a read-only one re-ran ({reruns})")


def test_config_errors(root):
    task = os.path.join(root, "T.md")
    with open(task, "w") as f:
        f.write("t\n")
    cases = [
        ({"mcpServers": {"a": {"command": "x", "argz": []}}}, "unknown key \"argz\""),
        ({"servers": {}}, "unknown top-level key"),
        ({"mcpServers": {"a": {"command": "/nonexistent/server"}}}, "cannot run \"/nonexistent/server\""),
        ({"mcpServers": {"a": {"command": PY, "args": ["-c", "import sys; sys.exit(4)"]}}}, "exited with status 4"),
        ({"mcpServers": {"a": {"url": f"http://127.0.0.1:{free_port()}/mcp", "timeout_s": 5}}}, "MCP server \"a\""),
        ({"mcpServers": {"a": {"command": PY, "args": ["-c", "import sys,json; print(json.dumps({'jsonrpc':'2.0',"
                                                       "'id':1,'result':{'protocolVersion':'1999-01-01'}})); "
                                                       "sys.stdout.flush(); sys.stdin.read()"]}}},
         "wants protocol version \"1999-01-01\""),
    ]
    for i, (cfg, needle) in enumerate(cases):
        path = os.path.join(root, f"bad{i}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        p = subprocess.run([CLAWNET, "agent", "run", task, "--workspace", root, "--home", os.path.join(root, "h"),
                            "--mcp-config", path], capture_output=True, text=True, timeout=60)
        check(p.returncode == 1 and needle in p.stderr, f"config error {i}: {needle!r} in {p.stderr!r}")
        home = os.path.join(root, "h")
        check(not os.path.isdir(home) or not os.listdir(home), f"config error {i}: no run created")


def test_started_once(root):
    """Each server starts once per runner: `agent run` checks the configuration by starting the
    servers before it creates the run and then runs with that same session. The fault server
    appends a line to LOG.starts at every start. Resuming an ended run starts none. (A bad
    configuration still stops `agent run` before a run is created: test_config_errors.)"""
    log = os.path.join(root, "once.log")
    servers = {"fault": {"command": PY, "args": [os.path.join(HERE, "mcp_fault_server.py"), "stdio", log, "3"],
                         "timeout_s": 10}}
    turns = [{"content": None, "tool_calls": [call("fault__echo", text="one")]},
             {"content": None, "tool_calls": [call("fault__echo", text="two")]}, {"content": "done"}]
    r = Run(root, "once", turns, servers)
    check(r.proc.returncode == 0 and "status finished" in r.proc.stdout, f"once: run finishes: {r.proc.stderr[-800:]}")
    starts = open(log + ".starts").read().split()
    check(len(starts) == 1, f"once: the server started once for check and run together: {starts}")
    msgs = [e["msg"] for e in fault_log(log)]
    inits = [m for m in msgs if m.get("method") == "initialize"]
    lists = [m for m in msgs if m.get("method") == "tools/list"]
    check(len(inits) == 1 and len(lists) == 9, f"once: one initialize, one paginated tools/list (9 pages): {len(inits)} {len(lists)}")
    check(r.tool_results() == ["echo: one", "echo: two"], f"once: calls through the checked session: {r.tool_results()}")
    res = r.resume()
    check(res.returncode == 0 and len(open(log + ".starts").read().split()) == 1,
          f"once: resuming the finished run starts no server: {res.stdout} {res.stderr}")


with tempfile.TemporaryDirectory() as tmp:
    test_config_errors(tmp)
    test_started_once(tmp)
    test_sdk_stdio(tmp)
    test_sdk_http(tmp)
    test_fault_stdio(tmp)
    test_fault_http(tmp)
    test_http_server_restart(tmp)
    test_crash_resume(tmp)

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print(f"test_agent_mcp: all {checks[0]} checks passed")
