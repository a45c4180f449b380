#!/usr/bin/env python3
"""clawnet agent's policy tools against a scripted model (agent_scripted_model.py): the sandboxed
`shell` tool under escape attempts (writing and reading outside the workspace, a TCP connection
to a listener this test runs, a fork bomb, a stdout flood, sleeping forever, a memory hog, new
namespaces), with the network granted, `http_get` against a local http.server (allowed host vs a
host name not on the list, redirects, binary and oversized bodies), invalid policies refused with
the bad field named, and the shell withheld when bwrap cannot be found.

What the model saw is read back from the scripted model's request log (the tool messages of the
last request) and parsed with Python's json; the effects are checked on the host (files, the
listener's and the HTTP server's own counters, /proc for leftover processes).

Usage: test_agent_sandbox.py CLAWNET_BINARY
"""
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_scripted_model import ScriptedModel  # noqa: E402

CLAWNET = os.path.abspath(sys.argv[1])
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def shell(command):
    return {"name": "shell", "arguments": {"command": command}}


def http_get(url):
    return {"name": "http_get", "arguments": {"url": url}}


class Run:
    """One agent run with its own workspace, home, policy and scripted model."""

    def __init__(self, root, name, calls, policy, env=None, timeout=60):
        self.dir = os.path.join(root, name)
        self.ws = os.path.join(self.dir, "ws")
        os.makedirs(self.ws)
        self.log = os.path.join(self.dir, "requests.jsonl")
        task = os.path.join(self.dir, "TASK.md")
        with open(task, "w") as f:
            f.write(f"Task {name}.\n")
        policy_path = os.path.join(self.dir, "policy.json")
        with open(policy_path, "w") as f:
            f.write(policy if isinstance(policy, str) else json.dumps(policy))
        model = ScriptedModel({"turns": [{"content": None, "tool_calls": calls}, {"content": "done"}]},
                              self.log).start()
        e = dict(os.environ)
        e.update(env or {})
        t0 = time.monotonic()
        self.proc = subprocess.run([CLAWNET, "agent", "run", task, "--workspace", self.ws, "--home",
                                    os.path.join(self.dir, "home"), "--model-url", model.url, "--id", name,
                                    "--policy", policy_path], capture_output=True, text=True, timeout=timeout, env=e)
        self.seconds = time.monotonic() - t0
        model.stop()
        self.requests = [json.loads(line) for line in open(self.log)] if os.path.exists(self.log) else []

    def tools_offered(self):
        return [t["function"]["name"] for t in self.requests[0]["body"]["tools"]] if self.requests else []

    def results(self):
        """The tool messages the model got, in call order (JSON-decoded where they are JSON)."""
        if not self.requests:
            return []
        out = []
        for m in self.requests[-1]["body"]["messages"]:
            if m["role"] == "tool":
                try:
                    out.append(json.loads(m["content"]))
                except ValueError:
                    out.append(m["content"])
        return out


def processes_matching(marker):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state not in ("Z", "X"):
            found.append((pid, cmd))
    return found


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = False
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            c.close()

    def close(self):
        self.stop = True
        time.sleep(0.3)
        self.sock.close()


class Site:
    """http.server on 127.0.0.1 with a text page, a binary file, a large page and a redirect to a
    host name that is not allowed; it records every path requested."""

    def __init__(self):
        self.paths = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.paths.append(self.path)
                if self.path == "/hello.txt":
                    self.reply(200, "text/plain; charset=utf-8", "hello from the allowed host \u00e9\n".encode())
                elif self.path == "/bin":
                    self.reply(200, "application/octet-stream", bytes(range(256)))
                elif self.path == "/binary-as-text":
                    self.reply(200, "text/plain", b"abc\x00\xff\xfe")
                elif self.path == "/big.txt":
                    self.reply(200, "text/plain", b"0123456789" * 1000)
                elif self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://localhost:{outer.port}/hello.txt")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.reply(404, "text/plain", b"no such page\n")

            def reply(self, status, ctype, data):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


FORK_BOMB = "f(){ f|f& }; f; sleep 30"
BOMB_MARK = "f(){ f|f& }"


def host_cgroups(pid):
    """{controller: directory} of a host process, from its /proc/PID/cgroup and our mountinfo (an
    implementation of the lookup independent of the runtime's); {} if it is gone."""
    try:
        lines = open(f"/proc/{pid}/cgroup").read().splitlines()
    except OSError:
        return {}
    mounts = []
    for line in open("/proc/self/mountinfo"):
        pre, post = line.split(" - ", 1)
        f = pre.split()
        fstype, _, opts = post.split()[:3]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append((fstype, set(opts.split(",")), f[3], f[4]))
    out = {}
    for line in lines:
        hid, ctrls, path = line.split(":", 2)
        for fstype, opts, mroot, mpoint in mounts:
            names = ["unified"] if hid == "0" else ctrls.split(",")
            if (hid == "0") != (fstype == "cgroup2") or (hid != "0" and not set(names) <= opts):
                continue
            if mroot != "/" and not (path + "/").startswith(mroot + "/"):
                continue
            rel = path[len(mroot):] if mroot != "/" else path
            for n in names:
                out.setdefault(n, mpoint + (rel if rel != "/" else ""))
    return out


class BombWatch:
    """Samples, every few ms while a run goes on, the processes carrying the bomb's text and every
    process on the machine; over `emergency` bomb processes it SIGKILLs them all itself, so even a
    sandbox that failed to contain the bomb cannot take the machine (and it is reported)."""

    def __init__(self, emergency):
        self.emergency = emergency
        self.peak = 0
        self.machine_peak = 0
        self.emergency_kills = 0
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            self.machine_peak = max(self.machine_peak, sum(1 for p in os.listdir("/proc") if p.isdigit()))
            found = processes_matching(BOMB_MARK)
            self.peak = max(self.peak, len(found))
            if len(found) > self.emergency:
                self.emergency_kills += 1
                for pid, _ in found:
                    try:
                        os.kill(int(pid), 9)
                    except OSError:
                        pass
            time.sleep(0.003)

    def close(self):
        self.stop = True
        self.thread.join()


# ---------------------------------------------------------------------------------------------
def test_contained(root):
    outside = os.path.join(root, "outside")
    os.makedirs(outside)
    secret = "secret-" + secrets.token_hex(8)
    with open(os.path.join(outside, "secret.txt"), "w") as f:
        f.write(secret)
    listener, site = Listener(), Site()
    limit = 4096
    flood = 3_000_000
    # 10 s: room for a loaded machine (the flood took 3.3 s under ASan with a load average of 130);
    # the fork bomb ends at the process count as root, at this limit otherwise.
    policy = {"http_get_hosts": ["127.0.0.1"],
              "limits": {"timeout_s": 10, "cpu_s": 10, "output_bytes": limit, "max_processes": 32,
                         "memory_bytes": 256 << 20}}
    hp = site.port
    calls = [
        shell("echo out; echo err >&2; echo inside > made.txt; pwd; exit 7"),
        shell(f"echo x > {outside}/escape.txt; echo x > /escape.txt; echo x > /usr/escape.txt; "
              f"echo x > /etc/escape.txt; echo x > ../escape.txt; echo x > /tmp/escape.txt; ls -d {outside}"),
        shell(f"cat {outside}/secret.txt; cat /proc/1/root{outside}/secret.txt; "
              f"cat /proc/self/root{outside}/secret.txt; ls -a /tmp {root}; echo searched"),
        shell(f"exec 3<>/dev/tcp/127.0.0.1/{listener.port} && echo CONNECTED; "
              f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {listener.port}), 2); "
              f"print(\"CONNECTED\")'"),
        shell("python3 -c 'import os\nx = bytearray(150 << 20)\npid = os.fork()\nif pid == 0:\n"
              "    for i in range(0, len(x), 4096): x[i] = 1\n    os._exit(0)\n"
              "print(\"child status\", os.waitpid(pid, 0)[1])'; echo \"rc=$?\""),
        shell(f"head -c {flood} /dev/zero | tr '\\0' a; echo END"),
        shell("python3 -c 'x = bytearray(1 << 30); print(\"ALLOCATED\")'; echo \"rc=$?\""),
        shell("unshare --user --map-root-user true && echo UNSHARED; mkdir -p m; mount -t tmpfs none m && "
              "echo MOUNTED; id -u"),
        http_get(f"http://127.0.0.1:{hp}/hello.txt"),
        http_get(f"http://localhost:{hp}/hello.txt"),
        http_get(f"http://127.0.0.1:{hp}/bin"),
        http_get(f"http://127.0.0.1:{hp}/binary-as-text"),
        http_get(f"http://127.0.0.1:{hp}/redirect"),
        http_get(f"http://127.0.0.1:{hp}/big.txt"),
        http_get(f"ftp://127.0.0.1:{hp}/hello.txt"),
        http_get(f"http://127.0.0.1.evil.example:{hp}/hello.txt"),
    ]
    r = Run(root, "contained", calls, policy)
    listener.close()
    site.close()
    check(r.proc.returncode == 0 and "status finished" in r.proc.stdout, f"run finishes: {r.proc.stdout} {r.proc.stderr}")
    check(r.seconds < 60, f"the run is bounded in time: {r.seconds:.1f} s")
    check({"shell", "http_get"} <= set(r.tools_offered()), f"tools offered: {r.tools_offered()}")
    res = r.results()
    if not check(len(res) == len(calls), f"one result per call: {len(res)}"):
        return
    containment = res[0].pop("containment", "")
    check(res[0] == {"exit_code": 7, "output": "out\nerr\n/workspace\n"}, f"exit status and output: {res[0]}")
    check(f"shell sandbox containment: {containment}" in r.proc.stderr, f"containment logged: {r.proc.stderr}")
    check(open(os.path.join(r.ws, "made.txt")).read() == "inside\n", "the workspace is writable")

    check(os.listdir(outside) == ["secret.txt"], f"nothing written outside: {os.listdir(outside)}")
    for p in ("/escape.txt", "/usr/escape.txt", "/etc/escape.txt", os.path.join(r.dir, "escape.txt"),
              "/tmp/escape.txt"):
        check(not os.path.exists(p), f"{p} not written")
    check("No such file or directory" in res[1]["output"] and "Read-only file system" in res[1]["output"],
          f"writes outside fail inside the sandbox: {res[1]}")

    check(secret not in json.dumps(res[2]) and res[2]["output"].endswith("searched\n"),
          f"the secret outside the workspace is not readable: {res[2]}")

    check("CONNECTED" not in res[3]["output"] and "Operation not permitted" in res[3]["output"],
          f"no socket with the network denied: {res[3]}")
    check(listener.accepted == 0, f"the listener saw no connection: {listener.accepted}")

    # Memory: with a memory cgroup one limit for the whole sandbox (the OOM killer ends a process
    # when the sum passes it: two processes of 150 MiB each do not fit in 256 MiB); without one,
    # RLIMIT_AS per process (each of them fits; the 1 GiB allocation is refused with MemoryError).
    per_sandbox = "memory limit per sandbox" in containment
    if per_sandbox:
        check("child status 0" not in res[4]["output"] and "rc=137" in res[4]["output"] and
              "memory limit" in res[4].get("memory_limit", ""), f"two 150 MiB processes exceed 256 MiB: {res[4]}")
        # (bash's "Killed" line quotes the command, "ALLOCATED" included: look for the printed line)
        check("\nALLOCATED\n" not in "\n" + res[6]["output"] and "rc=137" in res[6]["output"] and "memory_limit" in res[6],
              f"1 GiB killed under a 256 MiB sandbox: {res[6]}")
    else:
        check("child status 0\nrc=0\n" == res[4]["output"], f"RLIMIT_AS is per process: {res[4]}")
        check("MemoryError" in res[6]["output"] and "ALLOCATED" not in res[6]["output"],
              f"1 GiB refused under a 256 MiB limit: {res[6]}")

    check(res[5]["output"] == "a" * limit and res[5]["truncated_bytes"] == flood + len("END\n") - limit and
          res[5]["exit_code"] == 0, f"flood cut at {limit} bytes and the rest counted: "
          f"{ {k: v for k, v in res[5].items() if k != 'output'} }")

    check("UNSHARED" not in res[7]["output"] and "MOUNTED" not in res[7]["output"] and
          res[7]["output"].endswith("65534\n"), f"no new namespaces or mounts: {res[7]}")

    check(res[8].get("status") == 200 and res[8].get("body") == "hello from the allowed host \u00e9\n",
          f"http_get of an allowed host: {res[8]}")
    for i, why in ((9, "not allowed"), (10, "binary"), (11, "binary"), (14, "http and https"), (15, "not allowed")):
        check(isinstance(res[i], dict) and res[i].get("error") == "tool_error" and why in res[i].get("message", ""),
              f"http_get call {i} refused ({why}): {res[i]}")
    check(res[12].get("status") == 302 and res[12].get("location") == f"http://localhost:{hp}/hello.txt" and
          "not followed" in res[12].get("note", ""), f"redirect reported, not followed: {res[12]}")
    check(res[13].get("body") == ("0123456789" * 1000)[:limit] and "truncated" in res[13],
          f"large body cut at {limit} bytes: {len(res[13].get('body', ''))}")
    check(site.paths == ["/hello.txt", "/bin", "/binary-as-text", "/redirect", "/big.txt"],
          f"the site saw only the allowed requests: {site.paths}")


def sandbox_cgroup_dir(cgroups):
    """The call cgroup holding pids (v1 pids hierarchy or v2) among a process's cgroups, or None."""
    d = cgroups.get("pids") or cgroups.get("unified")
    return d if d and os.path.basename(d).startswith("clawnet-sandbox-") else None


def test_sleep_forever(root):
    """Killed at the time limit with everything it started, a background process included. While it
    sleeps the test looks at it from the host: with a cgroup in force it sits in its call's own
    cgroup with pids.max = 64 + 2 (the default max_processes plus bwrap's two) and, with a memory
    cgroup, the default 1 GiB as that cgroup's limit; afterwards the cgroup is gone."""
    seen = {}

    def look():
        t0 = time.monotonic()
        while time.monotonic() - t0 < 20 and not seen:
            for pid, _ in processes_matching("sleep 424243"):
                cg = host_cgroups(pid)
                d = sandbox_cgroup_dir(cg)
                try:
                    seen.update(cgroups=cg, dir=d, pids_max=d and open(os.path.join(d, "pids.max")).read().strip())
                    if d and cg.get("unified") == d:
                        mem = os.path.join(d, "memory.max")
                    elif cg.get("memory") and os.path.basename(cg["memory"]).startswith("clawnet-sandbox-"):
                        mem = os.path.join(cg["memory"], "memory.limit_in_bytes")
                    else:
                        mem = None
                    seen["memory"] = mem and os.path.exists(mem) and open(mem).read().strip()
                except OSError as e:
                    seen["error"] = str(e)
            time.sleep(0.02)

    looker = threading.Thread(target=look)
    looker.start()
    r = Run(root, "sleep", [shell("sleep 424242 & exec sleep 424243")], {"limits": {"timeout_s": 2}})
    looker.join()
    res = r.results()
    check(res and res[0].get("exit_code") is None and "time limit" in res[0].get("killed", ""),
          f"sleep killed: {res}")
    check(not processes_matching("sleep 42424"), f"no sleep left: {processes_matching('sleep 42424')}")
    check(r.seconds < 30, f"the run is bounded in time: {r.seconds:.1f} s")
    containment = res[0].get("containment", "") if res else ""
    if containment.startswith("cgroup"):
        check(seen.get("dir") and seen.get("pids_max") == "66", f"the sleep in its call's cgroup, pids.max 66: {seen}")
        if "memory limit per sandbox" in containment:
            check(seen.get("memory") == str(1 << 30), f"the call's memory cgroup limit is 1 GiB: {seen}")
        check(seen.get("dir") and not os.path.exists(seen["dir"]), f"the call's cgroup removed: {seen}")
    else:
        check(seen and not seen.get("dir"), f"no call cgroup claimed, none seen: {containment} {seen}")


def test_fork_bomb(root):
    """A bash fork bomb under max_processes 32. Run only where something the kernel enforces at fork
    holds it: the call's pids cgroup (root included) or RLIMIT_NPROC (not root); as root without a
    cgroup only the 20 ms watchdog would, which a fast bomb can outrun to the machine's pid limit
    (docs/agent.md, known limits), so it is skipped there, saying so. The test samples the bomb's
    processes and the machine's process count from /proc while it runs (and would SIGKILL the bomb
    itself past 256 processes: a backstop, reported as a failure)."""
    limit = 32
    policy = {"limits": {"timeout_s": 10, "cpu_s": 10, "max_processes": limit}}
    probe = Run(root, "bomb_probe", [shell("true")], policy)
    res = probe.results()
    containment = res[0].get("containment", "") if res and isinstance(res[0], dict) else ""
    if not containment.startswith("cgroup") and os.geteuid() == 0:
        print(f"SKIP fork bomb: running as root (the kernel ignores RLIMIT_NPROC for root) and no cgroup is usable "
              f"({containment or probe.proc.stderr.strip()}); only the process-count watchdog would hold it")
        return
    baseline = sum(1 for p in os.listdir("/proc") if p.isdigit())
    watch = BombWatch(emergency=8 * limit)
    try:
        r = Run(root, "bomb", [shell(FORK_BOMB)], policy)
    finally:
        watch.close()
    res = r.results()
    check(res and res[0].get("exit_code") is None and f"more than {limit} processes" in res[0].get("killed", ""),
          f"fork bomb killed at the process limit: {res}")
    check(watch.emergency_kills == 0, f"the test's backstop had to kill the bomb {watch.emergency_kills} times")
    # The bomb's processes: bwrap's monitor and init (their command lines carry the command too)
    # and at most max_processes of the command's own.
    check(watch.peak <= limit + 2, f"at most {limit} + 2 bomb processes at once: {watch.peak} ({containment})")
    check(watch.machine_peak <= baseline + limit + 2 + 2000,
          f"the machine's process count stayed bounded: {watch.machine_peak} (baseline {baseline})")
    check(not processes_matching(BOMB_MARK), f"no fork bomb process left: {processes_matching(BOMB_MARK)}")
    if containment.startswith("cgroup"):
        import sqlite3
        db = sqlite3.connect(os.path.join(r.dir, "home", "bomb", "journal.db"))
        runner = db.execute("SELECT pid FROM runners").fetchone()[0]
        db.close()
        parents = {d for d in host_cgroups(os.getpid()).values()}
        left = [os.path.join(p, n) for p in parents if os.path.isdir(p) for n in os.listdir(p)
                if n.startswith(f"clawnet-sandbox-{runner}-")]
        check(not left, f"the bomb's cgroup removed: {left}")
    print(f"fork bomb: peak {watch.peak} processes, machine {watch.machine_peak} (baseline {baseline}), "
          f"{r.seconds:.1f} s, {containment}")


def test_network_granted(root):
    listener = Listener()
    r = Run(root, "network", [shell(f"exec 3<>/dev/tcp/127.0.0.1/{listener.port} && echo CONNECTED")],
            {"shell_network": True, "limits": {"timeout_s": 5}})
    listener.close()
    res = r.results()
    check(res and res[0].get("output") == "CONNECTED\n", f"the policy grants the network: {res}")
    check(listener.accepted == 1, f"the listener saw the connection: {listener.accepted}")
    check("http_get" not in r.tools_offered(), f"no http_get without allowed hosts: {r.tools_offered()}")


def test_read_only_paths(root):
    tools = os.path.join(root, "tools")
    os.makedirs(tools)
    with open(os.path.join(tools, "tool.txt"), "w") as f:
        f.write("tool data\n")
    r = Run(root, "ro_paths", [shell(f"cat {tools}/tool.txt; echo x > {tools}/tool.txt")],
            {"read_only_paths": [tools], "limits": {"timeout_s": 5}, "cgroup": "off"})
    res = r.results()
    # "cgroup": "off": the fallback containment, said in the result and the run's progress log.
    check(res and res[0].get("containment", "").startswith("no cgroup: RLIMIT_NPROC") and
          'the policy says "cgroup": "off"' in r.proc.stderr, f"cgroup off reported: {res} {r.proc.stderr}")
    check(res and res[0]["output"].startswith("tool data\n") and "Read-only file system" in res[0]["output"],
          f"an extra path is readable, not writable: {res}")
    check(open(os.path.join(tools, "tool.txt")).read() == "tool data\n", "the extra path is unchanged")


def test_policy_errors(root):
    cases = [
        ('{"shell": "yes"}', "policy: shell must be true or false"),
        ('{"shel": true}', 'policy: unknown key "shel"'),
        ('{"limits": {"timeout_s": 0}}', "policy: limits.timeout_s must be an integer from 1 to 86400"),
        ('{"limits": {"timeout_s": 1.5}}', "policy: limits.timeout_s must be an integer"),
        ('{"limits": {"memory_bytes": "1G"}}', "policy: limits.memory_bytes must be an integer"),
        ('{"limits": {"walltime": 3}}', "policy: unknown key limits.walltime"),
        ('{"limits": []}', "policy: limits must be an object"),
        ('{"http_get_hosts": "example.org"}', "policy: http_get_hosts must be an array of strings"),
        ('{"http_get_hosts": ["http://example.org"]}', 'policy: http_get_hosts[0] "http://example.org" is not a host'),
        ('{"http_get_hosts": ["a.org", 5]}', "policy: http_get_hosts[1] must be a string"),
        ('{"read_only_paths": ["relative/dir"]}', "is not an absolute path"),
        ('{"read_only_paths": ["/nonexistent-clawnet-path"]}', "does not exist"),
        ('{"read_only_paths": ["/"]}', "would expose the whole file system"),
        ('{"read_only_paths": ["/usr/../etc"]}', "is not normalized"),
        ('{"read_only_paths": ["/tmp"]}', "is the sandbox's private /tmp"),
        ('{"read_only_paths": ["/proc/self"]}', "lies in a path the sandbox mounts itself"),
        ('[1]', "policy: the document must be a JSON object"),
        ('{"shell": true', "policy: not valid JSON"),
        ('{"shell": true} x', "policy: not valid JSON"),
        ('{"cgroup": "on"}', 'policy: cgroup must be "auto", "required" or "off"'),
    ]
    for i, (text, message) in enumerate(cases):
        r = Run(root, f"bad_policy_{i}", [], text)
        check(r.proc.returncode not in (0, 3) and message in r.proc.stderr,
              f"policy {text!r} refused naming the field ({message!r}): rc {r.proc.returncode} {r.proc.stderr!r}")
        check(not r.requests and not os.path.exists(os.path.join(r.dir, "home", f"bad_policy_{i}")),
              f"policy {text!r}: no run created, no model request")
    r = Run(root, "no_shell", [shell("echo hi")], {"shell": False})
    res = r.results()
    check("shell" not in r.tools_offered() and res and res[0].get("error") == "unknown_tool",
          f"shell false: the tool is not offered: {r.tools_offered()} {res}")


def test_runner_killed(root):
    """SIGKILL of the runner during a shell call: the sandbox dies with it (--die-with-parent), and
    resume reports the side-effecting call as outcome unknown instead of running it again."""
    d = os.path.join(root, "killed")
    ws = os.path.join(d, "ws")
    os.makedirs(ws)
    task = os.path.join(d, "TASK.md")
    with open(task, "w") as f:
        f.write("Task killed.\n")
    policy = os.path.join(d, "policy.json")
    with open(policy, "w") as f:
        json.dump({"limits": {"timeout_s": 60}}, f)
    log = os.path.join(d, "requests.jsonl")
    model = ScriptedModel({"turns": [{"content": None, "tool_calls": [shell("echo ran >> runs.txt; sleep 535353")]},
                                     {"content": "done"}]}, log).start()
    args = ["--home", os.path.join(d, "home")]
    p = subprocess.Popen([CLAWNET, "agent", "run", task, "--workspace", ws, *args, "--model-url", model.url,
                          "--id", "killed", "--policy", policy, "--quiet"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while not processes_matching("sleep 535353") and time.monotonic() - t0 < 20:
        time.sleep(0.05)
    check(processes_matching("sleep 535353"), "the sandboxed sleep started")
    sleepers = processes_matching("sleep 535353")
    call_cgroup = sandbox_cgroup_dir(host_cgroups(sleepers[0][0])) if sleepers else None
    p.kill()
    p.wait()
    t0 = time.monotonic()
    while processes_matching("sleep 535353") and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    check(not processes_matching("sleep 535353"), f"the sandbox died with the runner: {processes_matching('sleep 535353')}")
    # The kill leaves the call's cgroup behind (nothing of ours runs to remove it), but any other
    # runner's start-up sweep removes cgroups of dead runners, and CTest runs other agent tests
    # beside this one: so it is not asserted here that the cgroup is still there.
    left_behind = call_cgroup is not None and os.path.isdir(call_cgroup)
    r = subprocess.run([CLAWNET, "agent", "resume", "killed", *args], capture_output=True, text=True, timeout=60)
    model.stop()
    check(r.returncode == 0, f"resume finishes: {r.stdout} {r.stderr}")
    body = json.loads(open(log).readlines()[-1])["body"]
    tool = [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]
    check(len(tool) == 1 and tool[0].get("error") == "outcome_unknown", f"the cut-off shell call: {tool}")
    check(open(os.path.join(ws, "runs.txt")).read() == "ran\n", "the command ran once, not again on resume")
    # The killed runner's call cgroup (emptied by --die-with-parent) is removed by the next runner.
    check(call_cgroup is None or not os.path.exists(call_cgroup),
          f"the killed runner's call cgroup removed by the resume: {call_cgroup}")
    if call_cgroup:
        print(f"killed runner's cgroup {call_cgroup}: " +
              ("left by the kill, removed by the resume" if left_behind else "already swept by another runner"))


def test_loop_guard_progress(root):
    """Quiet commands that change the workspace are progress (workspace_digest.h); the same quiet
    result from commands that change nothing is the loop guard's "same result"."""
    def steps(cmds):
        return [{"content": None, "tool_calls": [shell(c)]} for c in cmds] + [{"content": "done"}]

    def run(name, cmds):
        d = os.path.join(root, name)
        ws = os.path.join(d, "ws")
        os.makedirs(ws)
        task = os.path.join(d, "TASK.md")
        with open(task, "w") as f:
            f.write("Task.\n")
        model = ScriptedModel({"turns": steps(cmds)}, os.path.join(d, "requests.jsonl")).start()
        r = subprocess.run([CLAWNET, "agent", "run", task, "--workspace", ws, "--home", os.path.join(d, "home"),
                            "--model-url", model.url, "--id", name, "--loop-limit", "3"], capture_output=True,
                           text=True, timeout=120)
        model.stop()
        return r

    r = run("quiet_work", [f"mkdir d{i}" for i in range(8)])
    check(r.returncode == 0 and "status finished" in r.stdout, f"8 quiet mkdirs finish: {r.stdout} {r.stderr}")
    r = run("quiet_idle", [f"true {i}" for i in range(8)])
    check(r.returncode == 3 and "status stuck" in r.stdout and "same result" in r.stderr + r.stdout,
          f"8 quiet no-ops are stuck: {r.stdout} {r.stderr}")


def test_no_bwrap(root):
    empty = os.path.join(root, "empty-path")
    os.makedirs(empty)
    r = Run(root, "no_bwrap", [shell("echo hi")], {}, env={"PATH": empty})
    check("shell tool not offered: bwrap not found" in r.proc.stderr, f"says why: {r.proc.stderr}")
    res = r.results()
    check("shell" not in r.tools_offered() and res and res[0].get("error") == "unknown_tool",
          f"no bwrap, no shell tool (never unsandboxed): {r.tools_offered()} {res}")


def main():
    if not shutil.which("bwrap"):
        print("FAIL: bwrap not installed (Debian package bubblewrap; scripts/setup.sh)", file=sys.stderr)
        return 1
    root = tempfile.mkdtemp(prefix="clawnet-agent-sandbox-")
    try:
        for t in (test_contained, test_fork_bomb, test_sleep_forever, test_network_granted, test_read_only_paths, test_runner_killed,
                  test_loop_guard_progress, test_policy_errors, test_no_bwrap):
            t0 = time.monotonic()
            t(root)
            print(f"{t.__name__}: {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("test_agent_sandbox: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
