#!/usr/bin/env python3
"""clawnet agent for long unattended runs, against the scripted model (agent_scripted_model.py):
runner identity and locking (a live run told from a crashed one, a second runner refused, a killed
runner's write temporaries removed on resume), `agent log --follow`, the loop and drift guard's
detectors (and long legitimate runs that must not trip them), token accounting, spilling large
results to artifacts with read_artifact, and compaction with pinned blocks.

Usage: test_agent_long.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import hashlib
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


def tool_msgs(body):
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


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

    # The kill itself may have landed between a write and its rename, leaving one more.
    left = [os.path.join(d, n) for d, _, names in os.walk(c.ws) for n in names if n == f".clawnet-tmp-{p.pid}"]

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
    check(not any(n.startswith(f".clawnet-tmp-{p.pid}") for _, _, names in os.walk(c.ws) for n in names),
          "no temporary of the killed runner is left anywhere")
    check(len(starts) == 2 and starts[0][2]["pid"] == p.pid and starts[1][2]["removed_temporaries"] == len(left),
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
    content = body["messages"][-1]["content"]
    # refused by the plan tool itself, or before dispatch by the schema check (its enum)
    check("pending, in_progress or done" in content or
          ("invalid_arguments" in content and "steps[0].status" in content and "in_progress" in content),
          f"an invalid plan is a tool error: {content}")
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


# ---------------------------------------------------------------------------------------------
def test_token_accounting(root):
    turns = turns_of([[call("write_file", path=f"t{i}.txt", content="x" * (100 * i))] for i in range(6)])
    c = Case(root, "tokens_reported", turns)
    check(agent(*c.run_args()).returncode == 0, "reported-usage run")
    st = c.query("SELECT prompt_tokens, completion_tokens, estimated_replies FROM context_state")[0]
    check(st == (70, 35, 0) and c.query("SELECT tokens FROM run")[0][0] == 105,
          f"reported usage summed (7 replies of 10 + 5): {st}")
    c.close()
    c = Case(root, "tokens_estimated", turns, usage="none")
    check(agent(*c.run_args()).returncode == 0, "no-usage run")
    reqs = c.requests()
    ev = c.events("model_response")
    want = [(q["bytes"] + 3) // 4 for q in reqs]
    got = [e[2]["prompt_tokens"] for e in ev]
    check(got == want and all(e[2].get("tokens_estimated") for e in ev),
          f"without usage, prompt tokens are request bytes / 4: {got} vs {want}")
    comp = [e[2]["completion_tokens"] for e in ev]
    want_comp = [(len(json.dumps(e[2]["message"], separators=(",", ":"))) + 3) // 4 for e in ev]
    check(comp == want_comp, f"completion tokens are message bytes / 4: {comp} vs {want_comp}")
    st = c.query("SELECT prompt_tokens, completion_tokens, estimated_replies FROM context_state")[0]
    check(st == (sum(want), sum(comp), 7) and c.query("SELECT tokens FROM run")[0][0] == sum(want) + sum(comp),
          f"estimates summed in context_state and the run's token budget: {st}")
    c.close()


def test_artifact_spill(root):
    ascii_text = "".join(f"line {i:05d} of a large build log\n" for i in range(2000))  # 64,000 bytes
    euro = "\u20ac" * 7000  # 21,000 bytes, 3 per character
    pages = [call("read_artifact", id="a1", offset=off) for off in range(0, len(ascii_text), 8192)]
    euro_id = f"a{len(pages) + 2}"  # artifact ids are call numbers: 1 read, the pages, then this read
    turns = turns_of([[call("read_file", path="build.log")], pages, [call("read_file", path="euro.txt")],
                      [call("read_artifact", id="a99"), call("read_artifact", id="../journal.db"),
                       call("read_artifact", id=euro_id, offset=1, length=8192)],
                      [call("read_file", path="small.txt")]])
    c = Case(root, "spill", turns)
    write_files({"build.log": ascii_text, "euro.txt": euro, "small.txt": "s" * 16384})(c.ws)
    r = agent(*c.run_args())
    check(r.returncode == 0, f"spill run finishes: {r.stderr}")
    reqs = c.requests()
    first = tool_msgs(reqs[1]["body"])[0]
    sha = hashlib.sha256(ascii_text.encode()).hexdigest()
    check(first.startswith("[this result is 64000 bytes, stored as artifact a1 (sha256 " + sha[:16]) and
          first.endswith(ascii_text[:2048]) and len(first) < 2600, f"a large result becomes a preview: {first[:200]}")
    art = os.path.join(c.run_dir, "artifacts", "a1")
    check(open(art).read() == ascii_text, "the artifact holds the exact result")
    ev = [e for e in c.events("tool_result") if e[2]["call_id"] == "call_0_0"][0][2]
    check(ev["artifact"] == {"id": "a1", "bytes": 64000, "sha256": sha} and len(ev["content"]) < 2600,
          f"the event records the artifact's id, size and hash, not the text: {ev.get('artifact')}")
    paged = tool_msgs(reqs[2]["body"])[1:]
    bodies = [p.split("\n", 1)[1] for p in paged]
    check("".join(bodies) == ascii_text, "read_artifact pages join to the exact result")
    check(paged[0].startswith("[artifact a1 bytes 0-8192 of 64000; continue at offset 8192]") and
          paged[-1].startswith("[artifact a1 bytes 57344-64000 of 64000: the end]"), f"page headers: {paged[-1][:80]}")
    msgs = tool_msgs(reqs[4]["body"])
    euro_preview = msgs[-4]
    check(euro_preview.split("\n", 1)[1] == "\u20ac" * 682, "the preview ends on a UTF-8 boundary (2046 bytes)")
    errs = msgs[-3:]
    check("no artifact a99" in errs[0] and "is not an artifact id" in errs[1] and
          errs[2].startswith(f"[artifact {euro_id} bytes 3-8193 of 21000; continue at offset 8193]"),
          f"bad ids refused, pages cut on UTF-8 boundaries: {[e[:70] for e in errs]}")
    small = tool_msgs(reqs[5]["body"])[-1]
    check(small == "s" * 16384, "a result of exactly the threshold stays inline")
    spilled = [e[2] for e in c.events("tool_result") if "artifact" in e[2]]
    check([e["artifact"]["id"] for e in spilled] == ["a1", euro_id] and all(len(e["content"]) < 2600 for e in spilled),
          "the journal holds the previews of the two spilled results, not their text")
    check(agent("verify", c.id, "--home", c.home).returncode == 0, "verify after spills")
    c.close()


def compaction_turns(n):
    steps = [[call("update_plan", steps=[{"title": "write the parts", "status": "in_progress"},
                                         {"title": "check the parts", "status": "pending"}])]]
    for i in range(n):
        calls = [call("write_file", path=f"parts/p{i}.txt", content=f"part {i}: " + "lorem ipsum " * 60),
                 call("read_file", path=f"parts/p{i}.txt")]
        if i == n // 2:
            calls.append(call("update_plan", steps=[{"title": "write the parts", "status": "done"},
                                                    {"title": "check the parts", "status": "in_progress"}]))
        steps.append(calls)
    return turns_of(steps, final="all parts written")


def check_compacted_requests(c, budget, what):
    reqs = c.requests()
    task = open(c.task).read()
    comps = c.events("compaction")
    summaries = [r for r in reqs if r.get("summary_request")]
    check(len(comps) >= 2 and len(summaries) == len(comps), f"{what}: {len(comps)} compactions, {len(summaries)} asked")
    steps = [r["step"] for r in reqs if not r.get("summary_request")]
    check(steps == sorted(set(steps)) and steps[-1] == len(steps) - 1, f"{what}: each step asked once: {steps[-5:]}")
    after = False
    biggest = 0
    for r in reqs:
        if r.get("summary_request"):
            after = True
            continue
        m = r["body"]["messages"]
        check(m[0]["role"] == "system" and m[1] == {"role": "user", "content": task},
              f"{what}: system prompt and task pinned in step {r['step']}")
        if after:
            biggest = max(biggest, r["bytes"])
            plan = [x for x in m if x["role"] == "user" and x["content"].startswith("Plan (kept with update_plan)")]
            summ = [x for x in m if x["role"] == "user" and x["content"].startswith("Summary of the earlier")]
            check(len(plan) == 1 and "write the parts" in plan[0]["content"] and len(summ) == 1 and
                  "SUMMARY of" in summ[0]["content"], f"{what}: plan and one summary pinned in step {r['step']}")
    first = comps[0][2]["summary"]
    check(first.startswith("SUMMARY of ") and "update_plan()" in first and "write_file(parts/p0.txt)" in first,
          f"{what}: the first summary covers the first turns: {first[:120]}")
    check(all("earlier summaries: 1" in e[2]["summary"] for e in comps[1:]),
          f"{what}: each later summary was given the previous one")
    last = [e[2] for e in comps][-1]
    final_msgs = [json.loads(j) for (j,) in c.query("SELECT json FROM messages ORDER BY idx")]
    check(final_msgs[3]["content"].endswith(last["summary"]), f"{what}: the stored summary is the last event's")
    check("[x] write the parts" in final_msgs[2]["content"] or last["after_step"] <= 31,
          f"{what}: the pinned plan is the current plan: {final_msgs[2]['content']}")
    # 4 bytes per token, tools and JSON framing: a request stays within about twice the budget.
    check(biggest < budget * 4 * 2, f"{what}: largest request after compaction {biggest} bytes for {budget} tokens")
    return comps


def test_compaction(root):
    turns = compaction_turns(60)
    ref = Case(root, "compact", turns)
    r = agent(*ref.run_args("--context-tokens", "3000"), timeout=600)
    check(r.returncode == 0, f"compacting run finishes: {r.stdout} {r.stderr}")
    comps = check_compacted_requests(ref, 3000, "compaction")
    files = {n: open(os.path.join(ref.ws, "parts", n)).read() for n in os.listdir(os.path.join(ref.ws, "parts"))}
    check(len(files) == 60, "every part written")
    check(agent("verify", ref.id, "--home", ref.home).returncode == 0, "verify after compactions")
    left = ref.query("SELECT COUNT(*) FROM tool_calls")[0][0]
    check(left < 40, f"finished tool calls trimmed at compaction: {left} rows left")
    seq = comps[1][0]
    ref.close()

    # Crash right after the second compaction's commit and right before it; resume to the same end.
    for k in (seq, seq - 1):
        c = Case(root, f"compact_crash_{k}", turns)
        r = agent(*c.run_args("--context-tokens", "3000"), env={"CLAWNET_AGENT_CRASH_AT": str(k)})
        check(r.returncode == 137, f"crash at commit {k}: {r.returncode}")
        r = agent("resume", c.id, "--home", c.home, "--quiet", timeout=600)
        check(r.returncode == 0, f"resume after a crash at commit {k}: {r.stderr}")
        check_compacted_requests(c, 3000, f"crash at commit {k}")
        got = {n: open(os.path.join(c.ws, "parts", n)).read() for n in os.listdir(os.path.join(c.ws, "parts"))}
        check(got == files, f"crash at commit {k}: same parts as the uninterrupted run")
        check(agent("verify", c.id, "--home", c.home).returncode == 0, f"crash at commit {k}: verify")
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
