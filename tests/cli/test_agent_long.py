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
