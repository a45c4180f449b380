#!/usr/bin/env python3
"""clawnet agent end to end against a scripted OpenAI-compatible model (agent_scripted_model.py):
a multi-step run, structured errors and workspace escapes, crash at every journal commit and
every step of archiving, random SIGKILLs (resumed to the uninterrupted outcome; the model never
asked twice for an answered step; the non-idempotent append_line executed at most once), the loop
guard, budgets, stop, redaction, and `agent verify` against a flipped byte, a deleted row and a
truncated tail (edited with Python's sqlite3) and against damaged, missing, replaced, reordered
and truncated archive files.

Usage: test_agent.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_scripted_model import ScriptedModel  # noqa: E402
from agent_test_support import chain_problems, journal_events  # noqa: E402

CLAWNET = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def agent(*args, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("CLAWNET_AGENT_CRASH_AT", None)
    e.update(env or {})
    return subprocess.run([CLAWNET, "agent", *args], capture_output=True, text=True, timeout=timeout, env=e)


class Case:
    """A fresh workspace, state home and scripted model for one run."""

    def __init__(self, root, name, turns, delay_s=0, verify_unknown=False):
        self.dir = os.path.join(root, name)
        self.ws = os.path.join(self.dir, "ws")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.ws)
        self.log = os.path.join(self.dir, "requests.jsonl")
        self.task = os.path.join(self.dir, "TASK.md")
        with open(self.task, "w") as f:
            f.write(f"Task {name}: follow the script.\n")
        script = {"turns": turns, "delay_s": delay_s}
        if verify_unknown:
            script["workspace"] = self.ws
        self.model = ScriptedModel(script, self.log).start()
        self.id = name.replace("/", "_")

    def run_args(self, *extra):
        return ["run", self.task, "--workspace", self.ws, "--home", self.home, "--model-url", self.model.url,
                "--id", self.id, "--quiet", *extra]

    def requests(self):
        if not os.path.exists(self.log):
            return []
        return [json.loads(line) for line in open(self.log)]

    def db(self):
        return sqlite3.connect(os.path.join(self.home, self.id, "journal.db"))

    @property
    def run_dir(self):
        return os.path.join(self.home, self.id)

    def status(self):
        with self.db() as c:
            return c.execute("SELECT status, reason FROM run").fetchone()

    def files(self):
        out = {}
        for base, _, names in os.walk(self.ws):
            for n in names:
                if n.startswith(".clawnet-tmp-"):  # a write cut off by SIGKILL before its rename
                    continue
                p = os.path.join(base, n)
                out[os.path.relpath(p, self.ws)] = open(p, "rb").read()
        return out

    def close(self):
        self.model.stop()


def call(name, **args):
    return {"name": name, "arguments": args}


def tool_messages(body):
    return [m for m in body["messages"] if m["role"] == "tool"]


# ---------------------------------------------------------------------------------------------
def test_multi_step(root):
    turns = [
        {"content": None, "reasoning_content": "plan: write then edit",
         "tool_calls": [call("write_file", path="src/a.txt", content="hello"), call("list_dir", path="src")]},
        {"content": None, "tool_calls": [call("edit_file", path="src/a.txt", old_string="hello", new_string="hello world"),
                                         call("read_file", path="src/a.txt")]},
        {"content": None, "tool_calls": [call("append_line", path="notes.txt", line="first"),
                                         call("append_line", path="notes.txt", line="second")]},
        {"content": "All done."},
    ]
    c = Case(root, "multi", turns)
    key = os.path.join(c.dir, "key.txt")
    with open(key, "w") as f:
        f.write("sk-test-123\n")
    r = agent(*c.run_args("--api-key-file", key))
    check(r.returncode == 0 and "status finished" in r.stdout, f"multi-step run finishes: {r.stdout} {r.stderr}")
    check(c.files() == {"src/a.txt": b"hello world", "notes.txt": b"first\nsecond\n"}, f"workspace: {c.files()}")
    reqs = c.requests()
    check([q["step"] for q in reqs] == [0, 1, 2, 3], f"one request per step: {[q['step'] for q in reqs]}")
    check(all(q["authorization"] == "Bearer sk-test-123" for q in reqs), "API key sent as a Bearer token")
    body = reqs[-1]["body"]
    check({t["function"]["name"] for t in body["tools"]} >= {"read_file", "write_file", "edit_file", "list_dir"},
          "tools offered in the OpenAI function format")
    tm = [m["content"] for m in tool_messages(body)]
    check(tm[:4] == ["wrote 5 bytes to src/a.txt", "a.txt\n", "replaced 1 occurrence in src/a.txt", "hello world"],
          f"tool results as the model saw them: {tm}")
    assistants = [m for m in body["messages"] if m["role"] == "assistant"]
    check(assistants[0].get("reasoning_content") == "plan: write then edit",
          "reasoning_content sent back to the model (protocols.md 3.6)")
    check(assistants[0]["tool_calls"][0]["id"] == "call_0_0", "tool call ids kept exactly")
    with c.db() as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        kinds = [k for (k,) in db.execute("SELECT kind FROM events ORDER BY seq")]
    check(mode == "wal", f"journal in WAL mode: {mode}")
    check(kinds[0] == "run_created" and kinds[-1] == "run_end", f"event kinds: {kinds}")
    check(kinds.count("tool_intent") == 6 and kinds.count("tool_result") == 6 and kinds.count("model_response") == 4,
          f"one intent and one result per call, one response per step: {kinds}")
    check(os.stat(os.path.join(c.home, c.id, "audit.key")).st_mode & 0o777 == 0o600, "audit.key is 0600")
    key_text = open(os.path.join(c.home, c.id, "journal.db"), "rb").read()
    check(b"sk-test-123" not in key_text, "the API key is never journaled")
    v = agent("verify", c.id, "--home", c.home)
    check(v.returncode == 0 and v.stdout.startswith("ok:"), f"verify of an intact run: {v.stdout} {v.stderr}")
    s = agent("status", c.id, "--home", c.home)
    check("status=finished" in s.stdout and "steps=4/" in s.stdout, f"status: {s.stdout}")
    s = agent("status", "--home", c.home)
    check(s.stdout.startswith(c.id), f"status lists runs: {s.stdout}")
    lg = agent("log", c.id, "--home", c.home)
    check(lg.returncode == 0 and len(lg.stdout.splitlines()) == len(kinds), "log prints every event")
    c.close()
    return c


def test_tamper(root, base):
    """verify names the first bad event after edits made with sqlite3."""
    run_dir = os.path.join(base.home, base.id)
    with base.db() as db:
        n = db.execute("SELECT MAX(seq) FROM events").fetchone()[0]

    def tampered(name, sql_edit):
        home = os.path.join(root, "tamper", name)
        shutil.copytree(run_dir, os.path.join(home, base.id))
        db = sqlite3.connect(os.path.join(home, base.id, "journal.db"))
        sql_edit(db)
        db.commit()
        db.close()
        return agent("verify", base.id, "--home", home)

    def flip(db):
        payload = bytearray(db.execute("SELECT payload FROM events WHERE seq = 5").fetchone()[0])
        payload[10] ^= 0x01
        db.execute("UPDATE events SET payload = ? WHERE seq = 5", (bytes(payload),))

    r = tampered("flip", flip)
    check(r.returncode == 3 and "first bad event 5:" in r.stdout, f"flipped byte found at event 5: {r.stdout}")
    r = tampered("delete", lambda db: db.execute("DELETE FROM events WHERE seq = 7"))
    check(r.returncode == 3 and "first bad event 7:" in r.stdout, f"deleted row found at event 7: {r.stdout}")
    r = tampered("truncate", lambda db: db.execute("DELETE FROM events WHERE seq > ?", (n - 3,)))
    check(r.returncode == 3 and f"first bad event {n - 2}:" in r.stdout and "truncated" in r.stdout,
          f"truncated tail found at event {n - 2}: {r.stdout}")
    # Truncating the tail and the recorded head together still leaves the signed end checkpoint.
    r = tampered("truncate_head", lambda db: (db.execute("DELETE FROM events WHERE seq > ?", (n - 3,)),
                                              db.execute("UPDATE journal_head SET seq = ?, hash = (SELECT hash FROM events WHERE seq = ?)", (n - 3, n - 3))))
    check(r.returncode == 3 and f"first bad event {n - 2}:" in r.stdout, f"truncated tail and head: {r.stdout}")
    r = tampered("none", lambda db: None)
    check(r.returncode == 0, f"an untouched copy verifies: {r.stdout}")


def archive_script(n_steps):
    return [{"content": None, "tool_calls": [call("write_file", path=f"f{i % 7}.txt", content=f"rev {i}\n"),
                                             call("append_line", path="ledger.txt", line=f"entry {i}")]}
            for i in range(n_steps)] + [{"content": "done"}]


def test_archive(root):
    """A 40-step run archiving whenever more than 30 events are live (keeping 15): the trail read
    back with Python's json and hashlib is whole, log prints it once, the database shrinks; then
    verify against each kind of damage to archives and the live table, on copies."""
    c = Case(root, "archive", archive_script(40))
    r = agent(*c.run_args("--archive-events", "30"))
    check(r.returncode == 0, f"archiving run finishes: {r.stdout} {r.stderr}")
    events, files = journal_events(c.run_dir)
    with c.db() as db:
        live = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        auto_vacuum = db.execute("PRAGMA auto_vacuum").fetchone()[0]
    check(len(files) >= 8 and live <= 31, f"archives written, live table bounded: {len(files)} files, {live} live")
    check(auto_vacuum == 2, f"journal created with auto_vacuum=INCREMENTAL: {auto_vacuum}")
    check(chain_problems(c.run_dir) == [], f"the trail by the documented rules: {chain_problems(c.run_dir)}")
    kinds = [e["kind"] for e in events]
    check(kinds.count("archive") == len(files) and kinds.count("tool_result") == 80 and kinds.count("model_response") == 41,
          f"every event kept exactly once: {len(files)} archives, {kinds.count('tool_result')} results")
    lg = agent("log", c.id, "--home", c.home)
    seqs = [int(line.split(" ", 1)[0]) for line in lg.stdout.splitlines()]
    check(seqs == [e["seq"] for e in events], f"log prints archived and live events once, in order: {len(seqs)}")
    v = agent("verify", c.id, "--home", c.home)
    check(v.returncode == 0 and f"ok: {len(events)} events" in v.stdout, f"verify across archives: {v.stdout} {v.stderr}")
    c.close()

    def tampered(name, edit):
        home = os.path.join(root, "tamper_archive", name)
        shutil.copytree(c.run_dir, os.path.join(home, c.id))
        run_dir = os.path.join(home, c.id)
        db = sqlite3.connect(os.path.join(run_dir, "journal.db"))
        edit(run_dir, db)
        db.commit()
        db.close()
        return agent("verify", c.id, "--home", home)

    def path(run_dir, k):
        return os.path.join(run_dir, "archive", files[k]["file"])

    def rewrite(run_dir, k, fn):
        lines = open(path(run_dir, k), "rb").read().split(b"\n")
        lines = fn(lines)
        open(path(run_dir, k), "wb").write(b"\n".join(lines))

    second = files[1]  # events second["first"]..second["last"]
    target = second["first"] + 2

    def flip(run_dir, db):
        def edit(lines):
            for i, line in enumerate(lines):
                if line.startswith(b'{"seq":%d,' % target):
                    k = line.index(b'"payload":"') + 14
                    lines[i] = line[:k] + bytes([line[k] ^ 0x01]) + line[k + 1:]
            return lines
        rewrite(run_dir, 1, edit)
    r = tampered("flip", flip)
    check(r.returncode == 3 and f"first bad event {target}:" in r.stdout, f"flipped byte in an archive: {r.stdout}")
    r = tampered("missing", lambda d, db: os.unlink(path(d, 1)))
    check(r.returncode == 3 and f"first bad event {second['first']}:" in r.stdout and "missing" in r.stdout,
          f"missing archive: {r.stdout}")
    r = tampered("missing_row", lambda d, db: (os.unlink(path(d, 1)),
                                               db.execute("DELETE FROM archives WHERE first = ?", (second["first"],))))
    check(r.returncode == 3 and f"first bad event {second['first']}:" in r.stdout and "missing" in r.stdout,
          f"archive and its row removed: {r.stdout}")
    r = tampered("replaced", lambda d, db: shutil.copyfile(path(d, 2), path(d, 1)))
    check(r.returncode == 3 and f"first bad event {second['first']}:" in r.stdout, f"replaced archive: {r.stdout}")

    def swap(run_dir, db):
        os.rename(path(run_dir, 1), path(run_dir, 1) + ".x")
        os.rename(path(run_dir, 2), path(run_dir, 1))
        os.rename(path(run_dir, 1) + ".x", path(run_dir, 2))
    r = tampered("swapped", swap)
    check(r.returncode == 3 and f"first bad event {second['first']}:" in r.stdout, f"two archives swapped: {r.stdout}")
    def last_event_line(lines):
        return max(i for i, line in enumerate(lines) if line.startswith(b'{"seq":'))
    r = tampered("truncated", lambda d, db: rewrite(d, 1, lambda ls: ls[:last_event_line(ls)] + [b""]))
    check(r.returncode == 3 and f"first bad event {second['last']}:" in r.stdout and "truncated" in r.stdout,
          f"archive cut after a whole line: {r.stdout}")

    def cut(run_dir, db):
        lines = open(path(run_dir, 1), "rb").read().split(b"\n")
        k = last_event_line(lines)
        keep = sum(len(line) + 1 for line in lines[:k]) + len(lines[k]) // 2
        open(path(run_dir, 1), "r+b").truncate(keep)
    r = tampered("cut", cut)
    check(r.returncode == 3 and f"first bad event {second['last']}:" in r.stdout and "cut off" in r.stdout,
          f"archive cut mid-line: {r.stdout}")
    r = tampered("reordered", lambda d, db: rewrite(d, 1, lambda ls: [ls[0], ls[2], ls[1]] + ls[3:]))
    check(r.returncode == 3 and f"first bad event {second['first']}:" in r.stdout, f"lines reordered: {r.stdout}")

    def respace(run_dir, db):
        # The events stay intact (JSON with one more space) and the row's SHA-256 is updated:
        # only the archive event in the chain still tells.
        rewrite(run_dir, 1, lambda ls: [ls[0].replace(b'","', b'", "', 1)] + ls[1:])
        db.execute("UPDATE archives SET sha256 = ? WHERE first = ?",
                   (hashlib.sha256(open(path(run_dir, 1), "rb").read()).digest(), second["first"]))
    r = tampered("respaced", respace)
    check(r.returncode == 3 and f"first bad event {second['first']}:" in r.stdout and "replaced" in r.stdout,
          f"archive rewritten with its row's hash updated: {r.stdout}")
    first_live = min(e["seq"] for e in events if e["source"] == "live")
    r = tampered("live_row", lambda d, db: db.execute("DELETE FROM events WHERE seq = ?", (first_live + 1,)))
    check(r.returncode == 3 and f"first bad event {first_live + 1}:" in r.stdout, f"deleted live row: {r.stdout}")
    n = events[-1]["seq"]
    r = tampered("live_tail", lambda d, db: db.execute("DELETE FROM events WHERE seq > ?", (n - 2,)))
    check(r.returncode == 3 and f"first bad event {n - 1}:" in r.stdout and "truncated" in r.stdout,
          f"truncated live tail: {r.stdout}")
    r = tampered("untouched", lambda d, db: None)
    check(r.returncode == 0, f"an untouched copy verifies: {r.stdout}")
    print(f"archives: {len(files)} files, {len(events)} events, every kind of damage found")

    # A journal from before archiving (auto_vacuum off, no archives table): the resumed runner
    # converts it (one VACUUM) and archives.
    old = Case(root, "archive_old", archive_script(40))
    r = agent(*old.run_args("--archive-events", "30"), env={"CLAWNET_AGENT_CRASH_AT": "12"})
    check(r.returncode == 137, f"old-journal case crashed before archiving: {r.returncode} {r.stderr}")
    db = sqlite3.connect(os.path.join(old.run_dir, "journal.db"))
    db.execute("DROP TABLE archives")
    db.execute("PRAGMA auto_vacuum=NONE")
    db.execute("VACUUM")
    before = db.execute("PRAGMA auto_vacuum").fetchone()[0]
    db.close()
    r = agent("resume", old.id, "--home", old.home, "--quiet")
    with old.db() as db:
        after = db.execute("PRAGMA auto_vacuum").fetchone()[0]
        n_archives = db.execute("SELECT COUNT(*) FROM archives").fetchone()[0]
    check(r.returncode == 0 and before == 0 and after == 2 and n_archives >= 8,
          f"an old journal is converted and archived: auto_vacuum {before} -> {after}, {n_archives} archives {r.stderr}")
    check(chain_problems(old.run_dir) == [] and agent("verify", old.id, "--home", old.home).returncode == 0,
          "the converted journal verifies")
    old.close()


def test_errors_and_escapes(root):
    outside = os.path.join(root, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write("secret")
    turns = [
        {"content": None, "tool_calls": [
            call("read_file", path="../outside/secret.txt"),
            call("read_file", path=os.path.join(outside, "secret.txt")),
            call("read_file", path="link/secret.txt"),
            call("write_file", path="link/new.txt", content="x"),
            call("write_file", path="../outside/new.txt", content="x"),
            call("append_line", path="link/secret.txt", line="x"),
            call("list_dir", path="link"),
            call("write_file", path="inner/../../outside/new2.txt", content="x"),
        ]},
        {"content": None, "tool_calls": [
            {"name": "no_such_tool", "arguments": {}},
            {"name": "write_file", "arguments": {"path": "a.txt"}},
            {"name": "write_file", "arguments": {"path": "a.txt", "content": 5}},
            {"name": "read_file", "arguments": {"path": "a.txt", "extra": 1}},
            {"name": "read_file", "arguments": "not json"},
            {"name": "read_file", "arguments": "[\"a\"]"},
        ]},
        {"content": "ok"},
    ]
    c = Case(root, "escape", turns)
    os.symlink(outside, os.path.join(c.ws, "link"))
    r = agent(*c.run_args())
    check(r.returncode == 0, f"escape run finishes: {r.stderr}")
    check(sorted(os.listdir(outside)) == ["secret.txt"] and open(os.path.join(outside, "secret.txt")).read() == "secret",
          f"nothing outside the workspace was written: {os.listdir(outside)}")
    body = c.requests()[-1]["body"]
    results = [json.loads(m["content"]) for m in tool_messages(body)]
    check(all("error" in x for x in results), f"every escape and bad call is a structured error: {results}")
    check(all("outside the workspace" in x["message"] or "absolute" in x["message"] for x in results[:8]),
          f"escapes refused as such: {[x['message'] for x in results[:8]]}")
    codes = [x["error"] for x in results[8:]]
    check(codes == ["unknown_tool"] + ["invalid_arguments"] * 5, f"structured error codes: {codes}")
    check("missing required argument \"content\"" in results[9]["message"], results[9]["message"])
    check(not any("secret" == x.get("message") for x in results), "the secret never reached the model")
    c.close()


def crash_script(n_steps, ws=None):
    turns = []
    for i in range(n_steps):
        calls = [call("append_line", path="ledger.txt", line=f"entry {i}"),
                 call("write_file", path=f"out/f{i}.txt", content=f"content {i}\n")]
        if i % 3 == 1:
            calls.append(call("edit_file", path=f"out/f{i - 1}.txt", old_string=f"content {i - 1}",
                              new_string=f"edited {i - 1}"))
        if i % 4 == 2:
            calls.append(call("read_file", path=f"out/f{i}.txt"))
        turns.append({"content": None, "tool_calls": calls})
    turns.append({"content": "finished the ledger"})
    return turns


def check_outcome(c, ref_files, what):
    st = c.status()
    check(st and st[0] == "finished", f"{what}: final status {st}")
    files = c.files()
    ledger = files.get("ledger.txt", b"").decode().splitlines()
    check(len(ledger) == len(set(ledger)), f"{what}: append_line ran at most once per call: {ledger}")
    check(files == ref_files, f"{what}: final workspace differs from the uninterrupted run: "
                              f"{sorted(set(files.items()) ^ set(ref_files.items()))[:4]}")
    v = agent("verify", c.id, "--home", c.home)
    check(v.returncode == 0, f"{what}: verify after crashes: {v.stdout}")


def archive_leftovers(c):
    """(temporaries, finished files no archives row names) in the run's archive directory."""
    d = os.path.join(c.run_dir, "archive")
    names = os.listdir(d) if os.path.isdir(d) else []
    with c.db() as db:
        recorded = {f for (f,) in db.execute("SELECT file FROM archives")}
    return (sum(1 for n in names if n.endswith(".tmp")),
            sum(1 for n in names if not n.endswith(".tmp") and n not in recorded))


def check_trail(c, what):
    """No event lost or duplicated across archives and the live table: the chain is whole by the
    documented rules and every tool call has exactly one result event."""
    problems = chain_problems(c.run_dir)
    check(problems == [], f"{what}: trail: {problems}")
    results = {}
    for e in journal_events(c.run_dir)[0]:
        if e["kind"] == "tool_result":
            cid = json.loads(e["payload"])["call_id"]
            results[cid] = results.get(cid, 0) + 1
    check(all(n == 1 for n in results.values()), f"{what}: a tool call with more than one result event")
    return len(results)


def test_crash_every_commit(root, archive_events=None, n_steps=5):
    """Kill (_exit right after the boundary) at every durable boundary of an n-step run, then
    resume. With archive_events, the run archives every few steps, so the boundaries include each
    step of the archiving protocol (file written, renamed, committed, vacuumed)."""
    turns = crash_script(n_steps)
    extra = ("--archive-events", str(archive_events)) if archive_events else ()
    name = f"crash_a{archive_events}" if archive_events else "crash"
    ref = Case(root, f"{name}_ref", turns, verify_unknown=True)
    r = agent(*ref.run_args(*extra))
    check(r.returncode == 0, f"reference run: {r.stderr}")
    ref_files = ref.files()
    ref_last_step = max(q["step"] for q in ref.requests())
    n_events = len(journal_events(ref.run_dir)[0])
    check_trail(ref, "reference")
    n_archives = len(journal_events(ref.run_dir)[1])
    ref.close()
    crashed = 0
    unknowns = 0
    leftovers = [0, 0]
    for k in range(1, n_events + 4 * n_archives + 2):
        c = Case(root, f"{name}_{k}", turns, verify_unknown=True)
        r = agent(*c.run_args(*extra), env={"CLAWNET_AGENT_CRASH_AT": str(k)})
        if r.returncode == 0:
            c.close()
            break  # fewer boundaries than k: the enumeration is complete
        crashed += 1
        check(r.returncode == 137, f"crash at boundary {k}: exit {r.returncode} {r.stderr}")
        if archive_events:
            tmp, unrecorded = archive_leftovers(c)
            leftovers[0] += tmp
            leftovers[1] += unrecorded
        r = agent("resume", c.id, "--home", c.home, "--quiet")
        check(r.returncode == 0, f"resume after crash at boundary {k}: {r.stdout} {r.stderr}")
        steps = [q["step"] for q in c.requests()]
        check(len(steps) == len(set(steps)), f"crash at boundary {k}: a step was asked twice: {steps}")
        # Without an outcome-unknown call (whose check can add a call, hence a step, to the last
        # turn), the resumed run asks exactly the steps the uninterrupted one asked: a final answer
        # journaled before the kill ends the run instead of asking the model for one more step.
        check(c.model.verified or max(steps) == ref_last_step,
              f"crash at boundary {k}: the model was asked for steps up to {max(steps)}, the uninterrupted run "
              f"up to {ref_last_step}")
        unknowns += len(c.model.verified)
        check_outcome(c, ref_files, f"crash at boundary {k}")
        check_trail(c, f"crash at boundary {k}")
        if archive_events:
            check(archive_leftovers(c) == (0, 0), f"crash at boundary {k}: the resumed runner removed the leftovers")
        c.close()
    check(crashed >= n_events + 3 * n_archives,
          f"crash enumeration covered {crashed} boundaries ({n_events} events, {n_archives} archives)")
    check(unknowns > 0, "some crash points left a side-effecting call with outcome unknown")
    if archive_events:
        check(n_archives >= 3 and leftovers[0] > 0 and leftovers[1] > 0,
              f"kills left a temporary ({leftovers[0]}) and an unrecorded archive ({leftovers[1]}) to clean up"
              f" ({n_archives} archives)")
    print(f"crash enumeration{' with archiving' if archive_events else ''}: {crashed} boundaries, "
          f"{n_archives} archives, {unknowns} outcome-unknown calls verified, leftovers {leftovers}")


def test_random_kills(root, n_steps=520, seed=1234):
    """A 520-step run (about 1,350 tool calls) archiving every ~75 events, killed again and again:
    real SIGKILLs at random times, and every fourth start armed to die at one step of its
    next archiving (CLAWNET_AGENT_CRASH_AT_ARCHIVE: file written, renamed, committed, vacuumed),
    each followed by a resume; at the end the same workspace as an uninterrupted run, every
    append_line (side effect; the tool fsyncs its file) executed at most once, the trail whole.
    The journals live on tmpfs when there is one: a kill -9 loses nothing the page cache holds,
    so fsync is not what is tested here (test_crash_every_commit), and 520 steps take a minute."""
    rng = random.Random(seed)
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else root
    root = tempfile.mkdtemp(prefix="clawnet-kills-", dir=base)
    extra = ("--archive-events", "150", "--max-steps", str(n_steps + 10))
    try:
        turns = crash_script(n_steps)
        ref = Case(root, "kill_ref", turns, verify_unknown=True)
        t0 = time.time()
        check(agent(*ref.run_args(*extra), timeout=600).returncode == 0, "reference for random kills")
        ref_time = time.time() - t0
        ref_files = ref.files()
        ref.close()
        c = Case(root, "kill", turns, delay_s=0.002, verify_unknown=True)
        kills = archive_kills = 0
        leftovers = [0, 0]
        args = c.run_args(*extra)
        t0 = time.time()
        for attempt in range(400):
            env = dict(os.environ)
            env.pop("CLAWNET_AGENT_CRASH_AT", None)
            armed = attempt % 4 == 3
            if armed:  # the four steps in turn
                env["CLAWNET_AGENT_CRASH_AT_ARCHIVE"] = str(attempt // 4 % 4 + 1)
            p = subprocess.Popen([CLAWNET, "agent", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
            if attempt == 0:
                p.stdout.readline()  # "run ID": the journal exists
            try:
                # Kill windows spread over the run: each start gets up to ~10 % of the reference time.
                p.wait(timeout=None if armed else rng.uniform(0.02, max(0.1, ref_time / 10)))
                if p.returncode == 137:
                    archive_kills += 1
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
            p.stdout.close()
            p.stderr.close()
            args = ["resume", c.id, "--home", c.home, "--quiet"]
            st = c.status()
            if st and st[0] == "finished":
                break
            tmp_files, unrecorded = archive_leftovers(c)
            leftovers[0] += tmp_files
            leftovers[1] += unrecorded
        r = agent(*args, timeout=600)
        check(r.returncode == 0, f"final resume after random kills: {r.stdout} {r.stderr}")
        check(kills >= 10, f"random kills happened: {kills}")
        check(archive_kills >= 3 and leftovers[0] + leftovers[1] > 0,
              f"kills during archiving: {archive_kills}, leaving {leftovers[0]} temporaries and {leftovers[1]}"
              " unrecorded archives")
        steps = [q["step"] for q in c.requests()]
        repeats = len(steps) - len(set(steps))
        check(set(steps) == set(range(len(turns))), "every step was asked")
        check(repeats <= kills + archive_kills, f"steps asked again ({repeats}) only for replies cut off by a kill")
        check_outcome(c, ref_files, f"{kills} random kills")
        calls = check_trail(c, "random kills")
        check(archive_leftovers(c) == (0, 0), "no archive leftovers after the last resume")
        n_archives = len(journal_events(c.run_dir)[1])
        print(f"random kills: {n_steps} steps, {calls} tool calls, {kills} SIGKILLs + {archive_kills} deaths inside"
              f" archiving (leftovers {leftovers}), {n_archives} archives, {repeats} re-asked steps,"
              f" {len(c.model.verified)} unknown outcomes; reference {ref_time:.0f} s, killed run {time.time() - t0:.0f} s")
        c.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_loop_guard(root):
    same_read = [{"content": None, "tool_calls": [call("read_file", path="a.txt")]} for _ in range(30)]
    c = Case(root, "stuck_read", same_read)
    with open(os.path.join(c.ws, "a.txt"), "w") as f:
        f.write("x")
    r = agent(*c.run_args("--loop-limit", "5"))
    check(r.returncode == 3 and "status stuck" in r.stdout, f"identical reads end as stuck: {r.stdout} {r.stderr}")
    check(len(c.requests()) == 5, f"stopped after 5 identical calls: {len(c.requests())} requests")
    c.close()

    same_write = [{"content": None, "tool_calls": [call("write_file", path="b.txt", content="same")]} for _ in range(30)]
    c = Case(root, "stuck_write", same_write)
    r = agent(*c.run_args("--loop-limit", "4"))
    check("status stuck" in r.stdout and len(c.requests()) == 5,
          f"rewriting identical content is no progress: {r.stdout} {len(c.requests())}")
    c.close()

    same_error = [{"content": None, "tool_calls": [call("read_file", path="missing.txt")]} for _ in range(30)]
    c = Case(root, "stuck_error", same_error)
    r = agent(*c.run_args("--loop-limit", "3"))
    check("status stuck" in r.stdout and len(c.requests()) == 3, f"repeated errors end as stuck: {r.stdout}")
    c.close()

    legit = [{"content": None, "tool_calls": [call("write_file", path="log.txt", content=f"line {i}\n"),
                                              call("read_file", path="log.txt")]} for i in range(120)]
    legit.append({"content": "done"})
    c = Case(root, "legit", legit)
    r = agent(*c.run_args("--loop-limit", "3"))
    check(r.returncode == 0 and "status finished" in r.stdout, f"120 distinct writes are not a loop: {r.stdout}")
    c.close()


def test_budgets_stop_redact(root):
    turns = [{"content": None, "tool_calls": [call("write_file", path=f"f{i}", content=str(i))]} for i in range(20)]
    c = Case(root, "budget", turns)
    r = agent(*c.run_args("--max-steps", "6"), env={"CLAWNET_AGENT_CRASH_AT": "6"})
    check(r.returncode == 137, "crash mid budget")  # after run_created and 5 more commits
    r = agent("resume", c.id, "--home", c.home, "--quiet")
    check("status budget_exhausted" in r.stdout and len(c.requests()) == 6,
          f"the step budget survives a restart: {r.stdout} {len(c.requests())} requests")
    c.close()

    c = Case(root, "deadline", turns, delay_s=0.3)
    r = agent(*c.run_args("--deadline", "1s"))
    check("status deadline_exceeded" in r.stdout and len(c.requests()) <= 5, f"deadline: {r.stdout}")
    c.close()

    c = Case(root, "stop", turns, delay_s=0.2)
    p = subprocess.Popen([CLAWNET, "agent", *c.run_args()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.readline()
    time.sleep(0.7)
    s = agent("stop", c.id, "--home", c.home)
    out, _ = p.communicate(timeout=30)
    check(s.returncode == 0 and "status stopped" in out and p.returncode == 3, f"stop: {s.stdout} {s.stderr} {out}")
    v = agent("verify", c.id, "--home", c.home)
    check(v.returncode == 0, f"verify after stop: {v.stdout}")
    r = agent("resume", c.id, "--home", c.home, "--quiet")
    check(r.returncode == 0 and len(c.files()) == 20, f"a stopped run resumes to the end: {r.stdout} {r.stderr}")
    c.close()

    secret = "TOP-SECRET-CONTENT-42"
    turns = [{"content": None, "tool_calls": [call("write_file", path="s.txt", content=secret), call("read_file", path="s.txt")]},
             {"content": "done"}]
    c = Case(root, "redact", turns)
    r = agent(*c.run_args("--redact"))
    check(r.returncode == 0, f"redacted run: {r.stderr}")
    with c.db() as db:
        payloads = b"".join(p for (p,) in db.execute("SELECT payload FROM events"))
        left = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    check(secret.encode() not in payloads and b"sha256:" in payloads, "redaction keeps only hashes in the events")
    check(left == 0, "redaction drops the conversation at run end")
    check(agent("verify", c.id, "--home", c.home).returncode == 0, "a redacted journal verifies")
    c.close()


def test_read_binary(root):
    """read_file on files that are not UTF-8 text: the model and the journal only ever get valid
    UTF-8. Expected values from Python: hashlib.sha256, bytes.decode("utf-8", "replace") (the same
    U+FFFD-per-maximal-subpart rule, Unicode 16.0 section 3.9), the file sizes."""
    import hashlib
    limit = 1 << 20
    files = {
        "bin.dat": bytes(range(256)) * 4,                                  # NUL at offset 0
        "png.bin": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",               # ill-formed first, NUL at 8
        "latin1.txt": "caf\u00e9 cr\u00e8me\n".encode("latin-1"),          # ill-formed at 3
        "mixed.txt": b"ok \xe2\x82x \xf0\x9f\x98 end \xed\xa0\x80 \xc0\xaf \xff\n",
        "cut_end.txt": b"abc\xe2\x82",                                     # the file itself ends mid-character
        "big.txt": b"a" * (limit - 1) + "\u20ac".encode() + b"tail",       # the read limit cuts the euro sign
        "big_bad.txt": b"\xff" + b"b" * (limit - 2) + "\u00e9".encode(),   # ill-formed, then the limit cuts
        "plain.txt": "h\u00e9llo\n".encode(),
    }
    names = list(files)
    c = Case(root, "read_binary", [{"content": None, "tool_calls": [call("read_file", path=n) for n in names]},
                                   {"content": "done"}])
    for n, data in files.items():
        with open(os.path.join(c.ws, n), "wb") as f:
            f.write(data)
    r = agent(*c.run_args())
    check(r.returncode == 0, f"read_binary run finishes: {r.stdout} {r.stderr}")
    body = c.requests()[-1]["body"]
    seen = dict(zip(names, [m["content"] for m in tool_messages(body)]))
    # Results over --spill-bytes went to artifacts: read the exact result text from there.
    art_dir = os.path.join(c.home, c.id, "artifacts")
    for n, text in seen.items():
        if text.startswith("[this result is"):
            aid = text.split("stored as artifact ")[1].split()[0]
            seen[n] = open(os.path.join(art_dir, aid), "rb").read().decode("utf-8")
    res = {}
    for n in names:
        try:
            res[n] = json.loads(seen[n])
        except ValueError:
            res[n] = seen[n]
    sha = {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}
    check(res["bin.dat"] == {"path": "bin.dat", "bytes": 1024, "sha256": sha["bin.dat"],
                             "binary": "a NUL byte at offset 0: binary file, contents not shown"},
          f"binary file summarised: {res['bin.dat']}")
    check(res["png.bin"] == {"path": "png.bin", "bytes": 16, "sha256": sha["png.bin"],
                             "binary": "a NUL byte at offset 8: binary file, contents not shown"},
          f"binary with a NUL after ill-formed bytes: {res['png.bin']}")
    for n, bad in (("latin1.txt", 3), ("mixed.txt", 3), ("cut_end.txt", 3)):
        check(res[n] == {"path": n, "bytes": len(files[n]), "sha256": sha[n],
                         "invalid_utf8": f"ill-formed UTF-8 at offset {bad}; such bytes are shown as U+FFFD",
                         "content": files[n].decode("utf-8", "replace")}, f"{n} with U+FFFD: {res[n]}")
    check(res["big.txt"] == {"path": "big.txt", "bytes": limit + 6,
                             "truncated": f"the first {limit - 1} of {limit + 6} bytes (read_file reads at most {limit})",
                             "content": "a" * (limit - 1)},
          f"cut at the limit before the euro sign: {dict((k, v[:80] if isinstance(v, str) else v) for k, v in res['big.txt'].items())}")
    bb = files["big_bad.txt"]
    check(isinstance(res["big_bad.txt"], dict) and res["big_bad.txt"].get("content") == bb[:limit - 1].decode("utf-8", "replace")
          and res["big_bad.txt"].get("invalid_utf8", "").startswith("ill-formed UTF-8 at offset 0;")
          and res["big_bad.txt"].get("truncated", "").startswith(f"the first {limit - 1} of {limit + 1} bytes")
          and "sha256" not in res["big_bad.txt"], "ill-formed and cut at the limit")
    check(res["plain.txt"] == "h\u00e9llo\n", f"a UTF-8 text file comes back as its text: {res['plain.txt']!r}")
    # Everything the journal holds is valid UTF-8 (strict decoding of the stored bytes).
    with c.db() as db:
        db.text_factory = bytes
        bad = []
        for seq, payload in db.execute("SELECT seq, payload FROM events"):
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as e:
                bad.append((seq, str(e)))
    check(not bad, f"journal payloads are valid UTF-8: {bad[:3]}")
    v = agent("verify", c.id, "--home", c.home)
    check(v.returncode == 0, f"verify: {v.stdout} {v.stderr}")
    c.close()


def test_cli_errors(root):
    r = agent("--help")
    check(r.returncode == 0 and "verify ID" in r.stdout, "agent --help")
    r = agent("run", "--workspace", root)
    check(r.returncode == 2, "run without TASK.md is a usage error")
    r = agent("resume", "../x", "--home", root)
    check(r.returncode == 1 and "not a run id" in r.stderr, f"bad run id: {r.stderr}")
    r = agent("run", "/nonexistent/TASK.md", "--workspace", root, "--home", root)
    check(r.returncode == 1 and "cannot read" in r.stderr, f"missing task file: {r.stderr}")
    r = agent("run", "/dev/null", "--workspace", root, "--deadline", "soon")
    check(r.returncode == 1 and "duration" in r.stderr, f"bad deadline: {r.stderr}")


with tempfile.TemporaryDirectory() as tmp:
    test_cli_errors(tmp)
    base = test_multi_step(tmp)
    test_tamper(tmp, base)
    test_archive(tmp)
    test_errors_and_escapes(tmp)
    test_read_binary(tmp)
    test_loop_guard(tmp)
    test_budgets_stop_redact(tmp)
    test_crash_every_commit(tmp)
    test_crash_every_commit(tmp, archive_events=8, n_steps=3)
    test_random_kills(tmp)

if failures:
    print(f"{len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("test_agent: all checks passed")
