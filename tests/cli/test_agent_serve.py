#!/usr/bin/env python3
"""clawnet agent end to end against a real `clawnet serve` (a random checkpoint with DeepSeek-V4's
real vocabulary, tests/cli/serve_harness.py), tool_choice left to the model. A random model does
nothing useful, but the run must go through the journal like any other: every reply journaled
with its request hash and token usage, a final status, `agent status` / `log` agreeing, and
`agent verify` clean.

Usage: test_agent_serve.py CLAWNET_BINARY
"""
import json
import os
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_harness  # noqa: E402
from agent_test_support import Failures, agent as run_agent  # noqa: E402

CLAWNET = sys.argv[1]
F = Failures()
check = F.check
FINAL = {"finished", "stuck", "budget_exhausted", "deadline_exceeded", "failed"}

with tempfile.TemporaryDirectory() as tmp:
    model = serve_harness.make_model(tmp)
    ws, home = os.path.join(tmp, "ws"), os.path.join(tmp, "home")
    os.makedirs(ws)
    task = os.path.join(tmp, "TASK.md")
    with open(task, "w") as f:
        f.write("Write hello.txt containing the word hello, then answer done.\n")
    with serve_harness.Server(CLAWNET, model, "--ctx", "4096", "--max-tokens", "48") as server:
        r = run_agent(CLAWNET, "run", task, "--workspace", ws, "--home", home, "--model-url", server.base_url,
                      "--model", server.model_name, "--id", "e2e", "--max-steps", "4", "--context-tokens", "3000",
                      "--quiet", timeout=900)
        print(r.stdout, r.stderr[-2000:])
        check(r.returncode in (0, 3) and r.stdout.startswith("run e2e"), f"the run ends: {r.returncode} {r.stderr[-500:]}")
    db = sqlite3.connect(os.path.join(home, "e2e", "journal.db"))
    status, reason, steps = db.execute("SELECT status, reason, steps FROM run").fetchone()
    events = [(k, json.loads(p)) for k, p in db.execute("SELECT kind, payload FROM events ORDER BY seq")]
    db.close()
    print(f"status {status} ({reason}) after {steps} steps; events: {[k for k, _ in events]}")
    check(status in FINAL, f"a final status: {status} {reason}")
    kinds = [k for k, _ in events]
    check(kinds[:2] == ["run_created", "runner_start"] and kinds[-1] == "run_end", f"event kinds: {kinds}")
    replies = [p for k, p in events if k == "model_response"]
    if status != "failed" or replies:
        check(len(replies) >= 1 and all(len(p["request_sha256"]) == 64 and p["prompt_tokens"] > 0 and
                                        "tokens_estimated" not in p for p in replies),
              f"replies journaled with request hashes and the server's usage: {replies[:1]}")
    intents = sum(1 for k in kinds if k == "tool_intent")
    results = sum(1 for k in kinds if k == "tool_result")
    check(results >= intents, f"every dispatched call has a result: {intents} intents, {results} results")
    s = run_agent(CLAWNET, "status", "e2e", "--home", home)
    check(f"status={status}" in s.stdout, f"agent status agrees: {s.stdout}")
    lg = run_agent(CLAWNET, "log", "e2e", "--home", home, "--follow", timeout=60)
    check(lg.returncode == 0 and len(lg.stdout.splitlines()) == len(events), "log --follow ends at once on an ended run")
    v = run_agent(CLAWNET, "verify", "e2e", "--home", home)
    check(v.returncode == 0 and v.stdout.startswith("ok:"), f"verify: {v.stdout} {v.stderr}")

if F.items:
    print(f"{len(F.items)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("test_agent_serve: all checks passed")
