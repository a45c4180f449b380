#!/usr/bin/env python3
"""A scripted model server for the agent runtime's tests: a test double speaking the OpenAI
chat-completions API (POST /v1/chat/completions, non-streaming) with the standard library's
http.server. It replays scripted turns and records every request it receives.

The reply to a request is chosen by the number of assistant messages already in it (the step),
so a resumed run that re-sends an answered step would get the same answer, and the request log
shows it. Script (JSON): {"turns": [TURN, ...]} where TURN is
  {"content": "text" | null, "reasoning_content": "...",
   "tool_calls": [{"name": "write_file", "arguments": {...} | "raw string"}, ...]}
or {"http_status": 500} for an error reply. Past the last turn the model answers "done".
Optional: "delay_s" (seconds before each reply) and "workspace" (a directory: the double then
checks outcome-unknown calls there like a careful model, see verify_unknown).
Tool call ids are "call_<step>_<k>"; once the runtime has compacted the conversation (fewer
assistant messages than steps), the step is one past the highest step named by a tool call id.
A request without "tools" is the runtime's compaction request: the double answers it with a
summary naming the tool calls it saw (summary_reply). Options: "usage": "none" (no usage
object), "estimate" (prompt_tokens = request bytes / 4) or absent (10 and 5); "log_bodies": false
(log step and hash only: the soak's log stays small).

Each request is appended to the log file (one JSON line: step, sha256 of the body, the body) and
fsync'd before the reply is sent, so a killed client never loses a record of what it asked.

Usage as a program: agent_scripted_model.py SCRIPT.json LOG.jsonl PORT_FILE (serves until killed).
"""
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import time


def validate_request(body):
    """The conversation shape the OpenAI API requires (protocols.md 3.6); returns an error or None."""
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "messages must be a non-empty array"
    for t in body.get("tools", []):
        if t.get("type") != "function" or not isinstance(t.get("function", {}).get("parameters"), dict):
            return "tools[] entries must be {type:function, function:{name, parameters}}"
    msgs = body["messages"]
    i = 0
    while i < len(msgs):
        m = msgs[i]
        if m.get("role") not in ("system", "user", "assistant", "tool"):
            return f"messages[{i}].role is {m.get('role')!r}"
        if m["role"] == "tool":
            return f"messages[{i}] is a tool message that answers no assistant tool call"
        if m["role"] == "assistant" and m.get("tool_calls"):
            ids = [c["id"] for c in m["tool_calls"]]
            following = msgs[i + 1:i + 1 + len(ids)]
            got = [x.get("tool_call_id") if x.get("role") == "tool" else None for x in following]
            if got != ids:
                return f"the messages after messages[{i}] answer {got}, expected tool results for {ids}"
            i += 1 + len(ids)
            continue
        i += 1
    return None


def step_of(messages):
    """The step a request asks for: the number of assistant messages, or, after compaction dropped
    some, one past the highest step in a tool call id ("call_<step>_<k>") still in the tail."""
    step = sum(1 for m in messages if m.get("role") == "assistant")
    for m in messages:
        for c in m.get("tool_calls") or []:
            parts = c.get("id", "").split("_")
            if len(parts) == 3 and parts[0] == "call" and parts[1].isdigit():
                step = max(step, int(parts[1]) + 1)
    return step


def summary_reply(body):
    """What the double writes when asked to summarise: the tool calls named in the transcript (the
    runtime renders them as "  called NAME [ID] ARGUMENTS" lines) with their paths, and whether an
    earlier summary was in it, so a test can tell which turns a summary covered."""
    transcript = body["messages"][-1]["content"]
    seen = []
    for name, args in re.findall(r"^  called (\S+) \[[^\]]*\] (.*)$", transcript, re.M):
        path = re.search(r'"path": ?"([^"]*)"', args)
        seen.append(f"{name}({path.group(1) if path else ''})")
    earlier = transcript.count("\nearlier summary: ")
    return f"SUMMARY of {len(seen)} calls: " + ", ".join(seen) + (f" | earlier summaries: {earlier}" if earlier else "")


class ScriptedModel:
    def __init__(self, script, log_path):
        self.turns = script["turns"]
        self.delay_s = script.get("delay_s", 0)
        self.workspace = script.get("workspace")
        self.verified = []
        self.log_path = log_path
        self.usage = script.get("usage")
        self.log_bodies = script.get("log_bodies", True)
        self.summaries = 0
        self.on_request = None  # tests may set a callable(step, body) run before each reply
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, reply = outer.answer(self.path, raw, self.headers.get("Authorization"))
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass  # the client was killed mid-request: that is what the crash tests do

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def answer(self, path, raw, auth):
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}"}}
        try:
            body = json.loads(raw)
        except ValueError as e:
            return 400, {"error": {"message": f"body is not JSON: {e}"}}
        step = step_of(body.get("messages", []))
        summary = "tools" not in body
        with self.lock:
            with open(self.log_path, "a") as f:
                record = {"step": step, "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw),
                          "authorization": auth}
                if summary:
                    record["summary_request"] = True
                if self.log_bodies:
                    record["body"] = body
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        if self.on_request:
            self.on_request(step, body)
        problem = validate_request(body)
        if problem:
            return 400, {"error": {"message": problem}}
        if summary:
            self.summaries += 1
            return 200, self.completion(step, body, raw, {"role": "assistant", "content": summary_reply(body)}, "stop")
        turn = self.turns[step] if step < len(self.turns) else {"content": "done"}
        if self.delay_s:
            time.sleep(self.delay_s)
        retries = self.verify_unknown(body["messages"])
        if "http_status" in turn:
            return turn["http_status"], {"error": {"message": "scripted failure"}}
        message = {"role": "assistant", "content": turn.get("content")}
        if "reasoning_content" in turn:
            message["reasoning_content"] = turn["reasoning_content"]
        calls = []
        for k, c in enumerate(retries + turn.get("tool_calls", [])):
            args = c["arguments"] if isinstance(c["arguments"], str) else json.dumps(c["arguments"])
            calls.append({"id": f"call_{step}_{k}", "type": "function",
                          "function": {"name": c["name"], "arguments": args}})
        if calls:
            message["tool_calls"] = calls
        return 200, self.completion(step, body, raw, message, "tool_calls" if calls else "stop")

    def completion(self, step, body, raw, message, finish_reason):
        reply = {"id": f"chatcmpl-{step}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                 "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]}
        if self.usage == "estimate":
            prompt, completion = len(raw) // 4, len(json.dumps(message)) // 4
            reply["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}
        elif self.usage != "none":
            reply["usage"] = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        return reply

    def verify_unknown(self, messages):
        """What a careful model does with an "outcome_unknown" result: check the workspace and
        repeat the call only if it did not take effect (append_line: the line is absent;
        edit_file: old_string is still there). Needs "workspace" in the script."""
        last = max(i for i, m in enumerate(messages) if m["role"] != "tool")
        if messages[last]["role"] != "assistant" or not self.workspace:
            return []
        calls = {c["id"]: c for c in messages[last].get("tool_calls") or []}
        retries = []
        for m in messages[last + 1:]:
            if '"outcome_unknown"' not in (m.get("content") or ""):
                continue
            call = calls[m["tool_call_id"]]["function"]
            args = json.loads(call["arguments"])
            path = os.path.join(self.workspace, args["path"])
            text = open(path).read() if os.path.exists(path) else ""
            done = (args["line"] + "\n" in text.splitlines(keepends=True) if call["name"] == "append_line"
                    else args["old_string"] not in text)
            self.verified.append((call["name"], args, done))
            if not done:
                retries.append({"name": call["name"], "arguments": args})
        return retries

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    model = ScriptedModel(json.load(open(sys.argv[1])), sys.argv[2])
    with open(sys.argv[3], "w") as f:
        f.write(str(model.port))
    model.server.serve_forever()
