#!/usr/bin/env python3
"""clawnet agent and notifications/tools/list_changed, against the official SDK's server (PyPI mcp
2.3.0, tests/cli/mcp_sdk_server.py, whose tool "grow" registers the tool "extra" and announces it):
  - stdio and streamable HTTP: the request after the change offers sdk__extra with the SDK's own
    inputSchema for it (the oracle: the SDK's list_tools in process), the model's call of it
    works, and the journal's `tools` events (reasons start, list_changed) hold exactly the tools
    of the requests that followed them;
  - a server that keeps its tools across restarts (the grown state in a file): kill -9 at every
    journal commit, then resume: every model request offers exactly the tools (names, schemas,
    order) the uninterrupted run's request for the same step offered, with the same assistant and
    tool messages, and the results are the same;
  - a server that forgets (no state file): killed right after the list_changed `tools` commit,
    the resumed run's new server process has no "extra": the journal records the difference
    (reason resumed, without sdk__extra), the next request no longer offers it and the scripted
    call of it is an unknown_tool error for the model.
Every subprocess and wait is bounded in time.

Usage: test_agent_mcp_tools_changed.py CLAWNET_BINARY
"""
import asyncio
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from agent_test_support import Failures, SdkHttpServer, agent, call, run_mcp_case, sdk_stdio_server  # noqa: E402

CLAWNET = sys.argv[1]
PY = sys.executable
F = Failures()
check = F.check


def extra_oracle():
    """The SDK's own tools/list entry for "extra" once grown: (inputSchema, description)."""
    import mcp_sdk_server
    mcp_sdk_server.add_extra()
    for t in asyncio.run(mcp_sdk_server.server.list_tools()):
        d = t.model_dump(by_alias=True, mode="json", exclude_none=True)
        if d["name"] == "extra":
            return d["inputSchema"], d.get("description")
    return None, None


def stdio_server(root, name, state=None):
    return sdk_stdio_server(PY, root, name, state, timeout_s=120)


def start(root, name, turns, servers, env=None):
    return run_mcp_case(CLAWNET, root, name, turns, servers, env=env, timeout=180)

def names(req):
    return [t["function"]["name"] for t in req["body"]["tools"]]


def tools_events(c):
    return [p for _, _, p in c.events("tools")]


def verify(c):
    return agent(CLAWNET, "verify", c.id, "--home", c.home).returncode == 0


GROW = [{"content": None, "tool_calls": [call("sdk__grow")]},
        {"content": None, "tool_calls": [call("sdk__extra", n=7)]},
        {"content": "done"}]


def test_list_changed(root, transport):
    what = f"list_changed ({transport})"
    name = f"grow-{transport}"
    if transport == "stdio":
        c = start(root, name, GROW, {"sdk": stdio_server(root, name)})
    else:
        with SdkHttpServer(PY, root, name) as srv:
            if not check(srv.ok, f"{what}: the SDK server listens"):
                return
            c = start(root, name, GROW, {"sdk": {"url": srv.url, "timeout_s": 120}})
    try:
        check(c.proc.returncode == 0 and c.status()[0] == "finished",
              f"{what}: run finishes: {c.proc.stdout} {c.proc.stderr[-2000:]}")
        reqs = c.requests()
        if not check(len(reqs) == 3, f"{what}: 3 model requests: {len(reqs)}"):
            return
        check("sdk__extra" not in names(reqs[0]) and "sdk__grow" in names(reqs[0]), f"{what}: first request")
        offered = {t["function"]["name"]: t["function"] for t in reqs[1]["body"]["tools"]}
        schema, description = extra_oracle()
        fn = offered.get("sdk__extra")
        check(fn is not None and fn["parameters"] == schema and fn["description"] == description,
              f"{what}: the request after grow offers sdk__extra as the SDK lists it: {fn} vs {schema}")
        check(names(reqs[1]) == names(reqs[0])[:names(reqs[0]).index("sdk__pause") + 1] + ["sdk__extra"] +
              names(reqs[0])[names(reqs[0]).index("sdk__pause") + 1:],
              f"{what}: sdk__extra joins the MCP block after the server's other tools: {names(reqs[1])}")
        check(c.tool_results() == ["grown", "extra 7"], f"{what}: results {c.tool_results()}")
        evs = tools_events(c)
        check([e["reason"] for e in evs] == ["start", "list_changed"], f"{what}: tools events {[e['reason'] for e in evs]}")
        if len(evs) == 2:
            check(evs[0]["tools"] == reqs[0]["body"]["tools"] and evs[1]["tools"] == reqs[1]["body"]["tools"]
                  == reqs[2]["body"]["tools"], f"{what}: the journaled tool sets are the requests' tools")
        classes = {e["name"]: e["class"] for _, _, e in c.events("tool_intent")}
        check(classes.get("sdk__extra") == "read_only", f"{what}: extra's class from its annotations: {classes}")
        check(verify(c), f"{what}: verify")
    finally:
        c.close()


PERSIST = [{"content": None, "tool_calls": [call("sdk__grow")]},
           {"content": None, "tool_calls": [call("sdk__extra", n=1), call("sdk__shout", text="a")]},
           {"content": "done"}]


def request_view(q):
    """What must not change across a crash: the tools offered, and the assistant and tool
    messages (the task and system text name the case's own paths)."""
    body = q["body"]
    return body["tools"], [m for m in body["messages"] if m["role"] in ("assistant", "tool")]


def test_resume_same_tools(root):
    """Kill -9 at every journal commit with a server that keeps its grown tools across restarts:
    the resumed runs ask the model exactly what the uninterrupted run asked."""
    ref = start(root, "persist-ref", PERSIST, {"sdk": stdio_server(root, "persist-ref", os.path.join(root, "ref.state"))})
    ref_view = {r["step"]: request_view(r) for r in ref.requests()}
    ref_results = ref.tool_results()
    n_events = len(ref.events())
    ref.close()
    if not check(ref.proc.returncode == 0 and len(ref_view) == 3 and ref_results == ["grown", "extra 1", "A"],
                 f"persist: reference run: {ref.proc.stderr[-1500:]} {ref_results}"):
        return
    crashed = 0
    reasons = set()
    for k in range(1, n_events + 2):
        name = f"persist-{k}"
        c = start(root, name, PERSIST, {"sdk": stdio_server(root, name, os.path.join(root, name + ".state"))},
                  env={"CLAWNET_AGENT_CRASH_AT": str(k)})
        try:
            if c.proc.returncode == 0:
                break  # fewer commits than k: every commit point was covered
            crashed += 1
            if not check(c.proc.returncode == 137, f"persist crash {k}: exit {c.proc.returncode} {c.proc.stderr[-500:]}"):
                continue
            r = agent(CLAWNET, "resume", c.id, "--home", c.home, "--quiet", timeout=180)
            check(r.returncode == 0 and c.status()[0] == "finished", f"persist crash {k}: resume {r.stdout} {r.stderr[-800:]}")
            for q in c.requests():
                check(ref_view.get(q["step"]) == request_view(q),
                      f"persist crash {k}: the request for step {q['step']} differs from the uninterrupted run's")
            check(c.tool_results() == ref_results, f"persist crash {k}: results {c.tool_results()}")
            reasons |= {e["reason"] for e in tools_events(c)}
            check(verify(c), f"persist crash {k}: verify")
        finally:
            c.close()
    print(f"tools_changed crash enumeration: {crashed} commit points, tools event reasons {sorted(reasons)}")
    check(crashed >= n_events - 1, f"persist: commit points covered: {crashed} of {n_events}")
    check("resumed" in reasons, "persist: some crash point made the resumed run journal the servers' tools anew")


def test_resume_forgetful(root):
    """A server that forgets its grown tool when restarted: the resumed run journals what the new
    process offers and the model gets an unknown_tool error for the vanished tool."""
    ref = start(root, "forget-ref", GROW, {"sdk": stdio_server(root, "forget-ref")})
    kinds = [k for _, k, _ in ref.events()]
    ref.close()
    positions = [i + 1 for i, (_, k, p) in enumerate(ref.events()) if k == "tools" and p["reason"] == "list_changed"]
    if not check(ref.proc.returncode == 0 and len(positions) == 1, f"forget: reference run {kinds}"):
        return
    k = positions[0]
    c = start(root, "forget", GROW, {"sdk": stdio_server(root, "forget")}, env={"CLAWNET_AGENT_CRASH_AT": str(k)})
    try:
        evs = c.events()
        check(c.proc.returncode == 137 and evs and evs[-1][1] == "tools" and evs[-1][2]["reason"] == "list_changed",
              f"forget: killed right after the list_changed tools commit: {[e[1] for e in evs][-3:]}")
        r = agent(CLAWNET, "resume", c.id, "--home", c.home, "--quiet", timeout=180)
        check(r.returncode == 0 and c.status()[0] == "finished", f"forget: resume {r.stdout} {r.stderr[-800:]}")
        tevs = tools_events(c)
        check([e["reason"] for e in tevs] == ["start", "list_changed", "resumed"], f"forget: {[e['reason'] for e in tevs]}")
        if len(tevs) == 3:
            check("sdk__extra" in [t["function"]["name"] for t in tevs[1]["tools"]] and
                  tevs[2]["tools"] == tevs[0]["tools"], "forget: the resumed set is the server's fresh one, without extra")
        reqs = c.requests()
        step2 = [q for q in reqs if q["step"] == 2]
        check(step2 and all("sdk__extra" not in names(q) for q in step2),
              f"forget: the request after the resume does not offer sdk__extra")
        res = c.tool_results()
        err = json.loads(res[1]) if len(res) == 2 and res[1].startswith("{") else {}
        check(res[:1] == ["grown"] and err.get("error") == "unknown_tool",
              f"forget: the vanished tool is an unknown_tool error for the model: {res}")
        check(verify(c), "forget: verify")
    finally:
        c.close()


with tempfile.TemporaryDirectory() as tmp:
    test_list_changed(tmp, "stdio")
    test_list_changed(tmp, "http")
    test_resume_forgetful(tmp)
    test_resume_same_tools(tmp)

if F.items:
    print(f"{len(F.items)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("test_agent_mcp_tools_changed: all checks passed")
