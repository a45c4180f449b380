#!/usr/bin/env python3
"""A fault-injecting MCP server in plain Python (no SDK), for the agent runtime's MCP client tests.

Speaks MCP 2025-06-18 style JSON-RPC over stdio (one message per line) or streamable HTTP
(http.server: POST, JSON or SSE replies, Mcp-Session-Id). Every message it receives is appended to
LOG (one JSON line: {"pid", "msg", "headers"}), and every start to LOG + ".starts", so a test can
check what the client sent and how often the server was started.

Misbehaviour on purpose:
  - notifications/tools/list_changed and notifications/message sent before the initialize result;
  - tools/list paginated: one tool per page, nextCursor "page-N";
  - a garbage line on stdout ("this is not json") before each tools/call answer (stdio);
  - before answering tools/call, a ping request and an unknown server request
    ("sampling/createMessage"), whose answers are logged;
  - tool "crash": exits (status 3) mid-call without answering;
  - tool "slow": answers after SLOW_S seconds (over HTTP the SSE stream sends a notification
    first, then stalls);
  - tool "mixed": text + image + resource content; tool "fails": isError true;
  - tool "expire" (HTTP): every session is forgotten after its answer (the next POST gets 404);
  - tool "bump": counts its executions in LOG + ".bumps" (fsync'd), side effect;
  - tool "cut" (HTTP): its SSE reply gives event ids, sends one whole event, then the id and first
    line of a second and drops the connection; a GET with Last-Event-ID replays every event after
    that id (the cut one whole, then the answer). A GET without Last-Event-ID gets 405 (no
    server-push stream offered).

Usage: mcp_fault_server.py stdio LOG [SLOW_S]
       mcp_fault_server.py http LOG PORT_FILE [SLOW_S [PORT]]   (PORT default: any free port)
"""
import http.server
import json
import os
import sys
import threading
import time
import uuid

MODE = sys.argv[1]
LOG = sys.argv[2]
SLOW_S = float(sys.argv[4] if MODE == "http" and len(sys.argv) > 4 else
               sys.argv[3] if MODE == "stdio" and len(sys.argv) > 3 else 30)
lock = threading.Lock()

TOOLS = [
    {"name": "echo", "description": "Echo the text back.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
     "annotations": {"readOnlyHint": True}},
    {"name": "bump", "description": "Count a side effect.",
     "inputSchema": {"type": "object", "properties": {"by": {"type": "integer", "minimum": 1, "maximum": 10}}},
     "annotations": {"readOnlyHint": False, "destructiveHint": False}},
    {"name": "crash", "description": "Exit in the middle of the call.",
     "inputSchema": {"type": "object", "properties": {}}, "annotations": {"idempotentHint": True}},
    {"name": "slow", "description": "Answer late.", "inputSchema": {"type": "object", "properties": {}},
     "annotations": {"readOnlyHint": True}},
    {"name": "mixed", "description": "Several content types.", "inputSchema": {"type": "object"}},
    {"name": "fails", "description": "A tool-level failure.", "inputSchema": {"type": "object"}},
    {"name": "odd.name/with spaces", "description": "A name that needs sanitising.",
     "inputSchema": {"type": "object"}},
    {"name": "expire", "description": "HTTP: forget every session after answering.",
     "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": True}},
    {"name": "cut", "description": "HTTP: the reply stream breaks; resume it.", "inputSchema": {"type": "object"},
     "annotations": {"readOnlyHint": True}},
]


def log(msg, headers=None):
    with lock:
        with open(LOG, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "msg": msg, "headers": headers}) + "\n")


def result(mid, res):
    return {"jsonrpc": "2.0", "id": mid, "result": res}


def text(t, is_error=False):
    return {"content": [{"type": "text", "text": t}], "isError": is_error}


def tool_result(name, args):
    if name == "echo":
        return text("echo: " + args.get("text", ""))
    if name == "bump":
        with open(LOG + ".bumps", "a") as f:
            f.write(f"{args.get('by', 1)}\n")
            f.flush()
            os.fsync(f.fileno())
        return text("bumped")
    if name == "mixed":
        return {"content": [{"type": "text", "text": "first"},
                            {"type": "image", "mimeType": "image/png", "data": "aGVsbG8="},
                            {"type": "resource", "resource": {"uri": "file:///r.txt", "text": "resource text"}},
                            {"type": "resource_link", "uri": "file:///x.bin", "name": "x"}]}
    if name == "fails":
        return text("the tool failed on purpose", is_error=True)
    if name == "odd.name/with spaces":
        return text("odd ok")
    if name == "expire":
        return text("sessions forgotten")
    if name == "cut":
        return text("cut ok")
    return None


class Session:
    """The protocol logic shared by both transports; emit(msg) sends one message."""

    def __init__(self, emit, garbage):
        self.emit = emit
        self.garbage = garbage
        self.next_id = 1000

    def handle(self, msg):
        log(msg)
        if "method" not in msg:
            return  # an answer to our ping / unknown request: logged above
        method, mid, params = msg["method"], msg.get("id"), msg.get("params") or {}
        if mid is None:
            return  # notifications (initialized, cancelled): logged above
        if method == "initialize":
            self.emit({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            self.emit({"jsonrpc": "2.0", "method": "notifications/message",
                       "params": {"level": "info", "data": "starting"}})
            self.emit(result(mid, {"protocolVersion": "2025-06-18", "capabilities": {"tools": {"listChanged": True}},
                                   "serverInfo": {"name": "fault-server", "version": "1.0"}}))
        elif method == "tools/list":
            page = int((params.get("cursor") or "page-0").split("-")[1])
            res = {"tools": [TOOLS[page]]}
            if page + 1 < len(TOOLS):
                res["nextCursor"] = f"page-{page + 1}"
            self.emit(result(mid, res))
        elif method == "tools/call":
            name, args = params.get("name"), params.get("arguments") or {}
            self.garbage()
            self.emit({"jsonrpc": "2.0", "id": self.next_id, "method": "ping"})
            self.emit({"jsonrpc": "2.0", "id": self.next_id + 1, "method": "sampling/createMessage", "params": {}})
            self.next_id += 2
            self.emit({"jsonrpc": "2.0", "method": "notifications/progress",
                       "params": {"progressToken": "t", "progress": 1}})
            if name == "crash":
                sys.stdout.flush()
                os._exit(3)
            if name == "slow":
                self.slow(mid)
                return
            res = tool_result(name, args)
            if res is None:
                self.emit({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": f"unknown tool {name}"}})
            else:
                self.emit(result(mid, res))
        elif method == "ping":
            self.emit(result(mid, {}))
        else:
            self.emit({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "no such method"}})

    def slow(self, mid):
        time.sleep(SLOW_S)
        self.emit(result(mid, text("slow answer")))


def run_stdio():
    out = sys.stdout

    def emit(m):
        out.write(json.dumps(m) + "\n")
        out.flush()

    def garbage():
        out.write("this is not json\n")
        out.flush()

    s = Session(emit, garbage)
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            log({"unparsable": line})
            continue
        s.handle(msg)


def run_http():
    port_file = sys.argv[3]
    sessions = {}
    replays = {}  # last event id -> the SSE bytes that follow it (tool "cut")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_DELETE(self):
            log({"http": "DELETE"}, dict(self.headers))
            sessions.pop(self.headers.get("Mcp-Session-Id"), None)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            last = self.headers.get("Last-Event-ID")
            log({"http": "GET", "last_event_id": last}, dict(self.headers))
            if last is None or last not in replays:
                self.send_response(405 if last is None else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(replays[last])
            self.wfile.flush()
            self.close_connection = True

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            msg = json.loads(raw)
            headers = {k: v for k, v in self.headers.items()}
            log({"http_headers_for": msg.get("method") or "reply"}, headers)
            sid = self.headers.get("Mcp-Session-Id")
            if msg.get("method") != "initialize" and sid not in sessions:
                self.send_response(404 if sid else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if "id" not in msg or "method" not in msg:  # a notification or an answer: 202
                Session(lambda m: None, lambda: None).handle(msg)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if msg["method"] == "tools/call" and msg["params"]["name"] == "cut":
                self.cut(msg)
                return
            if msg["method"] == "tools/call":
                self.sse(msg)
                return
            replies = []
            Session(replies.append, lambda: None).handle(msg)
            body = json.dumps(replies[-1]).encode()  # plain JSON: the response only
            self.send_response(200)
            if msg["method"] == "initialize":
                sid = uuid.uuid4().hex
                sessions[sid] = True
                self.send_header("Mcp-Session-Id", sid)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def cut(self, msg):
            log(msg)
            prefix = uuid.uuid4().hex[:6]
            note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "cut"}}
            whole = f"id: {prefix}-1\ndata: {json.dumps(note)}\n\n".encode()
            second = f"id: {prefix}-2\ndata: {json.dumps(note)}\n\n".encode()
            answer = f"id: {prefix}-3\ndata: {json.dumps(result(msg['id'], text('cut ok')))}\n\n".encode()
            replays[f"{prefix}-1"] = second + answer
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(whole + second[:len(second) // 2])  # cut inside the second event
            self.wfile.flush()
            self.close_connection = True

        def sse(self, msg):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            n = [0]

            def emit(m):
                n[0] += 1
                # multi-line data and a comment, as the SSE standard allows
                data = json.dumps(m, indent=1).replace("\n", "\ndata: ")
                self.wfile.write(f": keep-alive\r\nevent: message\r\nid: {n[0]}\r\ndata: {data}\r\n\r\n".encode())
                self.wfile.flush()

            s = Session(emit, lambda: None)
            s.slow = lambda mid: (emit({"jsonrpc": "2.0", "method": "notifications/message",
                                        "params": {"level": "info", "data": "working"}}),
                                  time.sleep(SLOW_S), emit(result(mid, text("slow answer"))))
            try:
                s.handle(msg)
            except OSError:
                pass
            if msg["params"]["name"] == "expire":
                sessions.clear()
            self.close_connection = True

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a client that gave up on a slow stream resets its connection: expected here

    Server.allow_reuse_address = True
    srv = Server(("127.0.0.1", int(sys.argv[5]) if len(sys.argv) > 5 else 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    with open(LOG + ".starts", "a") as f:
        f.write(f"{os.getpid()}\n")
    run_stdio() if MODE == "stdio" else run_http()
