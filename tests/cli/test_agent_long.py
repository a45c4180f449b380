#!/usr/bin/env python3
"""clawnet agent for long unattended runs, against the scripted model (agent_scripted_model.py):
runner identity and locking (a live run told from a crashed one, a second runner refused, a killed
runner's write temporaries removed on resume), `agent log --follow`, the loop and drift guard's
detectors (and long legitimate runs that must not trip them), token accounting, spilling large
results to artifacts with read_artifact, and compaction with pinned blocks.

Usage: test_agent_long.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_test_support import Case, Failures, agent as run_agent, call  # noqa: E402

CLAWNET = sys.argv[1]
F = Failures()
check = F.check


def agent(*args, **kw):
    return run_agent(CLAWNET, *args, **kw)


def wait_for(cond, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------------------------
def test_runner_liveness(root):
    turns = [{"content": None, "tool_calls": [call("write_file", path=f"d/f{i}.txt", content=str(i))]} for i in range(40)]
    c = Case(root, "live", turns, delay_s=0.1)
    p = subprocess.Popen([CLAWNET, "agent", *c.run_args()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdout.readline()
    check(wait_for(lambda: len(c.requests()) >= 2), "the run got going")
    s = agent("status", c.id, "--home", c.home)
    check(f"status=running pid={p.pid} " in s.stdout, f"a live run shows running with its pid {p.pid}: {s.stdout}")
    second = agent("resume", c.id, "--home", c.home, "--quiet")
    check(second.returncode == 1 and "already being executed" in second.stderr,
          f"a second runner of the same run is refused: {second.returncode} {second.stderr}")
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    p.stderr.close()
    s = agent("status", c.id, "--home", c.home)
    check("status=crashed" in s.stdout and f"agent resume {c.id} --home {c.home}" in s.stdout
          and f"pid {p.pid}" in s.stdout, f"a killed run shows crashed with the resume command: {s.stdout}")
    s = agent("status", "--home", c.home)
    check("status=crashed" in s.stdout, f"the run list shows it crashed too: {s.stdout}")

    # What a kill between write and rename leaves: .clawnet-tmp-<pid of the killed runner>. Those of
    # an unrelated pid (another program's, or a file the model made) must stay.
    os.makedirs(os.path.join(c.ws, "d", "deep"), exist_ok=True)
    mine = [os.path.join(c.ws, f".clawnet-tmp-{p.pid}"), os.path.join(c.ws, "d", "deep", f".clawnet-tmp-{p.pid}")]
    other = os.path.join(c.ws, "d", ".clawnet-tmp-999999999")
    for path in mine + [other]:
        with open(path, "w") as f:
            f.write("partial")

    follow = subprocess.Popen([CLAWNET, "agent", "log", c.id, "--home", c.home, "--follow"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    check(follow.poll() is None, "log --follow keeps waiting while the run is not over")
    r = agent("resume", c.id, "--home", c.home, "--quiet")
    check(r.returncode == 0 and "status finished" in r.stdout, f"resume after the kill finishes: {r.stdout} {r.stderr}")
    try:
        out, err = follow.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        follow.kill()
        out, err = follow.communicate()
        check(False, "log --follow did not exit after the run ended")
    lines = out.splitlines()
    n_events = c.query("SELECT COUNT(*) FROM events")[0][0]
    check(follow.returncode == 0 and len(lines) == n_events and " run_end " in lines[-1],
          f"log --follow printed all {n_events} events and exited after run_end: {len(lines)} {lines[-1:]}")
    check([int(x.split()[0]) for x in lines] == list(range(1, n_events + 1)), "log --follow prints each event once")
    check(not any(os.path.exists(x) for x in mine), "the killed runner's temporaries were removed on resume")
    check(os.path.exists(other), "another pid's temporary file was left alone")
    starts = c.events("runner_start")
    check(len(starts) == 2 and starts[0][2]["pid"] == p.pid and starts[1][2]["removed_temporaries"] == 2,
          f"each runner journaled with its pid, the cleanup counted: {[e[2] for e in starts]}")
    s = agent("status", c.id, "--home", c.home)
    check("status=finished" in s.stdout, f"status after resume: {s.stdout}")
    check(agent("verify", c.id, "--home", c.home).returncode == 0, "verify after kill and resume")
    c.close()


# ---------------------------------------------------------------------------------------------
def turns_of(calls_per_step, final="done"):
    return [{"content": None, "tool_calls": calls} for calls in calls_per_step] + [{"content": final}]


def guard_case(root, name, steps, limit_args, setup=None):
    c = Case(root, name, turns_of(steps))
    if setup:
        setup(c.ws)
    r = agent(*c.run_args(*limit_args))
    st = c.status()
    c.close()
    return r, st, len(c.requests())


def write_files(files):
    def setup(ws):
        for path, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(ws, path)), exist_ok=True)
            with open(os.path.join(ws, path), "w") as f:
                f.write(text)
    return setup


def test_guard_detectors(root):
    # Same result under varying arguments: six different files with the same content.
    same = {f"s{i}.txt": "identical" for i in range(8)}
    r, st, n = guard_case(root, "g_same_result", [[call("read_file", path=f"s{i}.txt")] for i in range(8)],
                          ["--loop-limit", "5"], write_files(same))
    check(st[0] == "stuck" and st[1].startswith("same result: read_file returned the same result in 5 steps") and n == 5,
          f"same result under varying arguments: {st} after {n} requests")

    # Short cycles: A B A B (period 2) and A B C A B C (period 3), each repeated ceil(5/2) = 3 times.
    ab = write_files({"a.txt": "A", "b.txt": "B", "c.txt": "C"})
    r, st, n = guard_case(root, "g_cycle2", [[call("read_file", path="a.txt" if i % 2 == 0 else "b.txt")] for i in range(20)],
                          ["--loop-limit", "5"], ab)
    check(st[0] == "stuck" and st[1] == "short cycle: the same 2 calls (read_file read_file) repeated 3 times without progress"
          and n == 6, f"A B A B cycle: {st} after {n} requests")
    three = [call("read_file", path="a.txt"), call("list_dir", path="."), call("read_file", path="c.txt")]
    r, st, n = guard_case(root, "g_cycle3", [[three[i % 3]] for i in range(30)], ["--loop-limit", "5"], ab)
    check(st[0] == "stuck" and st[1].startswith("short cycle: the same 3 calls (read_file list_dir read_file)") and n == 9,
          f"A B C A B C cycle: {st} after {n} requests")

    # Repeated errors: the same error (limit), and distinct errors (2 * limit).
    r, st, n = guard_case(root, "g_same_error", [[call("edit_file", path="a.txt", old_string="zz", new_string="y")]] * 20,
                          ["--loop-limit", "4"], ab)
    check(st[0] == "stuck" and st[1].startswith("identical repeats: edit_file") and n == 4,
          f"an identical failing call is an identical repeat first: {st} after {n}")
    r, st, n = guard_case(root, "g_errors_any", [[call("read_file", path=f"missing{i}.txt")] for i in range(30)],
                          ["--loop-limit", "5"])
    check(st[0] == "stuck" and st[1] == "repeated errors: failed calls in 10 steps without progress" and n == 10,
          f"distinct errors without progress: {st} after {n}")
    r, st, n = guard_case(root, "g_error_text", [[call("edit_file", path=f"f{i % 7}.txt", old_string="q", new_string="r")]
                                                 for i in range(30)], ["--loop-limit", "3"],
                          write_files({f"f{i}.txt": "no match" for i in range(7)}))
    check(st[0] == "stuck" and st[1] == "repeated errors: failed calls in 6 steps without progress" and n == 6,
          f"errors naming different files are different errors, 2 * limit of them end the run: {st} after {n}")

    # Parallel calls of one step are one observation for the per-step detectors.
    r, st, n = guard_case(root, "g_parallel", [[call("read_file", path=f"pkg{i}/__init__.py") for i in range(8)],
                                               [call("read_file", path=f"missing{i}.py") for i in range(12)]],
                          ["--loop-limit", "5"], write_files({f"pkg{i}/__init__.py": "" for i in range(8)}))
    check(st[0] == "finished", f"8 equal empty files and 12 missing ones read in parallel are not a loop: {st}")

    # Drift: distinct reads of distinct content make no progress; 20 in a row end the run.
    r, st, n = guard_case(root, "g_drift", [[call("read_file", path=f"d{i}.txt")] for i in range(40)],
                          ["--drift-limit", "20"], write_files({f"d{i}.txt": f"content {i}" for i in range(40)}))
    check(st[0] == "stuck" and st[1] == "drift: 20 tool calls without progress" and n == 20, f"drift: {st} after {n}")


def test_guard_plan_progress(root):
    """A completed plan step is progress; completing the same step again is not."""
    def plan(*done):
        return call("update_plan", steps=[{"title": f"step {k}", "status": "done" if k in done else "pending"}
                                          for k in range(1, 8)])
    steps = []
    for k in range(1, 8):
        steps += [[call("read_file", path="a.txt")]] * 3 + [[plan(*range(1, k + 1))]]
    c = Case(root, "g_plan", turns_of(steps))
    write_files({"a.txt": "A"})(c.ws)
    r = agent(*c.run_args("--loop-limit", "4"))
    check(r.returncode == 0, f"reads between completed plan steps are not a loop: {c.status()}")
    rows = c.query("SELECT title, status FROM plan ORDER BY idx")
    check(rows == [(f"step {k}", "done") for k in range(1, 8)], f"the plan is stored: {rows}")
    c.close()
    toggle = []
    for k in range(10):
        toggle += [[call("read_file", path="a.txt")], [plan() if k % 2 else plan(1)]]
    c = Case(root, "g_plan_toggle", turns_of(toggle))
    write_files({"a.txt": "A"})(c.ws)
    agent(*c.run_args("--loop-limit", "4"))
    st = c.status()
    check(st[0] == "stuck", f"un-completing and re-completing a step is not progress: {st}")
    bad = [[call("update_plan", steps=[{"title": "x", "status": "finished"}])]]
    c = Case(root, "g_plan_bad", turns_of(bad))
    agent(*c.run_args())
    body = c.requests()[-1]["body"]
    check("pending, in_progress or done" in body["messages"][-1]["content"], "an invalid plan is a tool error")
    c.close()


def test_guard_long_legitimate(root):
    """300 steps of distinct, progressing work and a polling pattern whose status moves on finish;
    the same polling against a status that never moves is a short cycle."""
    steps = []
    for i in range(300):
        calls = [call("write_file", path=f"work/part{i % 40}.txt", content=f"part {i % 40} revision {i // 40}\n")]
        if i % 3 == 0:
            calls.append(call("read_file", path=f"work/part{i % 40}.txt"))
        if i % 10 == 0:
            calls.append(call("list_dir", path="work"))
        if i % 25 == 0:
            calls.append(call("append_line", path="log.txt", line=f"checkpoint {i}"))
        steps.append(calls)
    c = Case(root, "g_legit300", turns_of(steps))
    r = agent(*c.run_args(), timeout=600)
    check(r.returncode == 0 and len(c.requests()) == 301, f"300 progressing steps finish: {c.status()} {len(c.requests())}")
    c.close()

    poll = [[call("read_file", path="job/status.txt"), call("list_dir", path="job")] for _ in range(60)]
    for moving in (True, False):
        c = Case(root, f"g_poll_{'moving' if moving else 'stalled'}", turns_of(poll))
        write_files({"job/status.txt": "queued"})(c.ws)
        if moving:
            # The job advances every second request, as a background build would.
            def advance(step, body, ws=c.ws):
                with open(os.path.join(ws, "job", "status.txt"), "w") as f:
                    f.write(f"running: {step // 2 * 2}% done")
            c.model.on_request = advance
        agent(*c.run_args())
        st = c.status()
        if moving:
            check(st[0] == "finished", f"polling a status that moves on is progress: {st}")
        else:
            check(st[0] == "stuck" and st[1].startswith("short cycle: the same 2 calls (read_file list_dir)"),
                  f"polling a status that never moves is a cycle: {st}")
        c.close()


with tempfile.TemporaryDirectory() as tmp:
    only = os.environ.get("AGENT_LONG_ONLY")
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn) and (not only or only in name):
            t0 = time.time()
            fn(tmp)
            print(f"{name}: {time.time() - t0:.1f} s", flush=True)

if F.items:
    print(f"{len(F.items)} failure(s)", file=sys.stderr)
    sys.exit(1)
print("test_agent_long: all checks passed")
