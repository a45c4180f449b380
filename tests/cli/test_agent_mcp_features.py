#!/usr/bin/env python3
"""clawnet agent's MCP client, the parts beyond plain tools/call (docs/agent.md, "MCP servers"),
against servers built with the official SDK (PyPI mcp 2.3.0, tests/cli/mcp_sdk_server.py) over
stdio and streamable HTTP, and the fault-injecting server (tests/cli/mcp_fault_server.py):
  - server requests in the middle of a call, on the call's own reply stream: the SDK server's
    tool sends a ping, sampling/createMessage and elicitation/create and waits for the answers
    before it answers the call (over HTTP the answers must be POSTed while the reply stream is
    still open); the SDK reports what the client declared (roots only) and the refusal codes;
  - roots/list: answered with the workspace as a file:// URI (Python's pathlib as_uri is the
    oracle), over HTTP through the GET stream, where the SDK sends requests unrelated to a call;
  - a reply stream broken by the server (SDK ctx.close_sse_stream with an event store; the fault
    server cutting the connection inside an event) resumed with GET + Last-Event-ID, which must
    name the last event received whole; a GET stream refused with 405 is fine;
  - notifications/tools/list_changed: the toolbox follows the server's new tool list from the
    next step on, each change of the offered tool set is a `tools` event in the journal, and a
    resumed run re-lists the servers: with a server whose tools persist, every model request after
    a kill -9 at any journal commit offers the same tools as the uninterrupted run; with one that
    forgets them, the difference is journaled and the vanished tool is a structured error.
Every subprocess and wait is bounded in time.

Usage: test_agent_mcp_features.py CLAWNET_BINARY
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from agent_test_support import Failures, SdkHttpServer, call, run_mcp_case, sdk_stdio_server, wait_port_file  # noqa: E402

CLAWNET = sys.argv[1]
PY = sys.executable
F = Failures()
check = F.check


def run_case(root, name, turns, servers, ws_name="ws"):
    return run_mcp_case(CLAWNET, root, name, turns, servers, ws_name=ws_name)


def offered(req):
    return sorted(t["function"]["name"] for t in req["body"]["tools"])


def test_server_requests(root, transport):
    """ping / sampling / elicitation on the call's stream, roots/list (GET stream over HTTP)."""
    name = f"requests-{transport}"
    turns = [{"content": None, "tool_calls": [call("sdk__handshake"), call("sdk__where"), call("sdk__shout", text="x")]},
             {"content": "done"}]
    ws_name = "wörk space#1"  # non-ASCII, a space and a '#': percent-encoded in the URI
    if transport == "stdio":
        c = run_case(root, name, turns, {"sdk": sdk_stdio_server(PY, root, name, timeout_s=120)}, ws_name)
    else:
        with SdkHttpServer(PY, root, name) as srv:
            check(srv.ok, "sdk http server listens")
            c = run_case(root, name, turns, {"sdk": {"url": srv.url, "timeout_s": 120}}, ws_name)
    try:
        what = f"server requests ({transport})"
        check(c.proc.returncode == 0 and c.status()[0] == "finished",
              f"{what}: run finishes: {c.proc.stdout} {c.proc.stderr[-2000:]}")
        res = c.tool_results()
        if not check(len(res) == 3, f"{what}: 3 results: {res}"):
            return
        parts = res[0].split("; ")
        check(parts[:3] == ["ping answered", "sampling refused -32601", "elicitation refused -32601"],
              f"{what}: ping answered, sampling and elicitation refused with -32601 mid-call: {res[0]}")
        caps = json.loads(parts[3][len("capabilities "):]) if len(parts) == 4 else None
        check(caps == {"roots": {"listChanged": False}}, f"{what}: the SDK saw only the roots capability: {parts[3:]}")
        want = "workspace=" + pathlib.Path(os.path.realpath(c.ws)).as_uri()
        check(res[1] == want, f"{what}: roots/list gives the workspace as a file URI: {res[1]!r} want {want!r}")
        check(res[2] == "X", f"{what}: the next call works: {res[2]}")
    finally:
        c.close()


def test_sdk_resume(root):
    """The SDK closes the call's reply stream (event store: ids and a priming event); the client
    reconnects with GET + Last-Event-ID and gets the answer."""
    turns = [{"content": None, "tool_calls": [call("sdk__pause"), call("sdk__pause"), call("sdk__shout", text="y")]},
             {"content": "done"}]
    with SdkHttpServer(PY, root, "sdk-resume") as srv:
        check(srv.ok, "sdk http server listens")
        c = run_case(root, "sdk-resume", turns, {"sdk": {"url": srv.url, "timeout_s": 120}})
    try:
        check(c.proc.returncode == 0, f"sdk resume: run finishes: {c.proc.stdout} {c.proc.stderr[-2000:]}")
        res = c.tool_results()
        check(res == ["answered after the break", "answered after the break", "Y"],
              f"sdk resume: the answers arrive through the resumed stream: {res}")
    finally:
        c.close()


def test_fault_resume(root):
    """The fault server cuts its reply inside an event; the GET must carry the id of the last whole
    event, and the replay (the cut event whole, then the answer) completes the call."""
    log = os.path.join(root, "fault-resume.log")
    port_file = os.path.join(root, "fault-resume.port")
    srv = subprocess.Popen([PY, os.path.join(HERE, "mcp_fault_server.py"), "http", log, port_file, "3"])
    try:
        port = wait_port_file(port_file, srv)
        if not check(port is not None, "fault resume: server started"):
            return
        url = f"http://127.0.0.1:{port}/mcp"
        turns = [{"content": None, "tool_calls": [call("fault__cut"), call("fault__echo", text="after")]},
                 {"content": "done"}]
        c = run_case(root, "fault-resume", turns, {"fault": {"url": url, "timeout_s": 60}})
        try:
            check(c.proc.returncode == 0, f"fault resume: run finishes: {c.proc.stdout} {c.proc.stderr[-2000:]}")
            res = c.tool_results()
            check(res == ["cut ok", "echo: after"], f"fault resume: the call completes after the cut: {res}")
            msgs = [json.loads(line) for line in open(log)]
            gets = [m for m in msgs if m["msg"].get("http") == "GET"]
            plain = [m for m in gets if m["msg"]["last_event_id"] is None]
            resumed = [m for m in gets if m["msg"]["last_event_id"] is not None]
            inits = [m for m in msgs if m["msg"].get("http_headers_for") == "initialize"]
            check(len(plain) == len(inits) >= 1,
                  f"fault resume: the GET stream tried once per session, 405 accepted: "
                  f"{len(plain)} GETs, {len(inits)} sessions")
            check(len(resumed) == 1 and resumed[0]["msg"]["last_event_id"].endswith("-1"),
                  f"fault resume: one GET with Last-Event-ID of the last whole event: {resumed}")
            if resumed:
                h = resumed[0]["headers"]
                check(h.get("Accept") == "text/event-stream" and "Mcp-Session-Id" in h,
                      f"fault resume: the resuming GET's headers: {h}")
            cuts = [m for m in msgs if m["msg"].get("method") == "tools/call" and m["msg"]["params"]["name"] == "cut"]
            check(len(cuts) == 1, f"fault resume: the call was sent once: {len(cuts)}")
        finally:
            c.close()
    finally:
        srv.terminate()
        srv.wait(timeout=30)


with tempfile.TemporaryDirectory() as tmp:
    test_server_requests(tmp, "stdio")
    test_server_requests(tmp, "http")
    test_sdk_resume(tmp)
    test_fault_resume(tmp)

if F.items:
    print(f"{len(F.items)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("test_agent_mcp_features: all checks passed")
