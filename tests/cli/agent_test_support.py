"""Shared helpers for the agent runtime tests that run `clawnet agent` against the scripted model
(agent_scripted_model.py): a fresh workspace, state home and model per case."""
import hashlib
import json
import os
import sqlite3
import subprocess

from agent_scripted_model import ScriptedModel


class Failures:
    def __init__(self):
        self.items = []

    def check(self, cond, what):
        if not cond:
            self.items.append(what)
            print("FAIL:", what, flush=True)
        return cond


def agent(clawnet, *args, env=None, timeout=300):
    e = dict(os.environ)
    e.pop("CLAWNET_AGENT_CRASH_AT", None)
    e.update(env or {})
    return subprocess.run([clawnet, "agent", *args], capture_output=True, text=True, timeout=timeout, env=e)


def event_hash(prev, seq, run_id, kind, payload):
    """The chain rule as docs/agent.md ("Audit") states it, written here from the text."""
    h = hashlib.sha256()
    h.update(b"clawnet-agent-event-v1\0")
    h.update(prev)
    h.update(seq.to_bytes(8, "big"))
    h.update(run_id.encode() + b"\0")
    h.update(kind.encode() + b"\0")
    h.update(payload)
    return h.digest()


def journal_events(run_dir):
    """Every event of a run, archived (RUN_DIR/archive, in the archives table's order, read with
    Python's json) and live, as dicts: seq, run_id, kind, payload (bytes), prev_hash, hash (bytes),
    source (file name or "live"); plus the archive files' rows and their SHA-256 as read."""
    db = sqlite3.connect(os.path.join(run_dir, "journal.db"))
    try:
        has = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'archives'").fetchone()[0]
        archives = db.execute("SELECT first, last, file, sha256 FROM archives ORDER BY first").fetchall() if has else []
        live = db.execute("SELECT seq, run_id, kind, payload, prev_hash, hash FROM events ORDER BY seq").fetchall()
    finally:
        db.close()
    out, files = [], []
    for first, last, name, sha in archives:
        raw = open(os.path.join(run_dir, "archive", name), "rb").read()
        files.append({"first": first, "last": last, "file": name, "sha256": sha, "read_sha256": hashlib.sha256(raw).digest()})
        lines = raw.decode().splitlines()
        header = json.loads(lines[0])
        for line in lines[1:]:
            o = json.loads(line)
            if "checkpoint" in o:
                continue
            payload = o["payload"].encode() if "payload" in o else bytes.fromhex(o["payload_hex"])
            out.append({"seq": o["seq"], "run_id": o.get("run_id", header["run_id"]), "kind": o["kind"],
                        "payload": payload, "prev_hash": bytes.fromhex(o["prev_hash"]),
                        "hash": bytes.fromhex(o["hash"]), "source": name})
    for seq, run_id, kind, payload, prev, h in live:
        out.append({"seq": seq, "run_id": run_id, "kind": kind, "payload": bytes(payload), "prev_hash": bytes(prev),
                    "hash": bytes(h), "source": "live"})
    return out, files


def chain_problems(run_dir):
    """What is wrong with a run's whole trail by the documented rules (empty list: intact): seqs
    1..N each exactly once, every link and hash recomputed, every archive file's SHA-256 equal to
    its row and to the `archive` event that recorded it."""
    events, files = journal_events(run_dir)
    problems = []
    seqs = [e["seq"] for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"seqs are not 1..{len(seqs)} exactly once")
    prev = bytes(32)
    for e in events:
        if e["prev_hash"] != prev or event_hash(prev, e["seq"], e["run_id"], e["kind"], e["payload"]) != e["hash"]:
            problems.append(f"event {e['seq']} does not chain")
            break
        prev = e["hash"]
    recorded = {json.loads(e["payload"])["file"]: json.loads(e["payload"]) for e in events if e["kind"] == "archive"}
    for f in files:
        r = recorded.get(f["file"])
        if f["sha256"] != f["read_sha256"] or not r or bytes.fromhex(r["sha256"]) != f["read_sha256"]:
            problems.append(f"archive {f['file']} does not match its records")
    return problems


def call(name, **args):
    return {"name": name, "arguments": args}


class Case:
    """A fresh workspace, state home and scripted model for one run."""

    def __init__(self, root, name, turns, **script):
        self.dir = os.path.join(root, name)
        self.ws = os.path.join(self.dir, "ws")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.ws)
        self.log = os.path.join(self.dir, "requests.jsonl")
        self.task = os.path.join(self.dir, "TASK.md")
        with open(self.task, "w") as f:
            f.write(f"Task {name}: follow the script.\n")
        self.model = ScriptedModel({"turns": turns, **script}, self.log).start()
        self.id = name.replace("/", "_")
        self.run_dir = os.path.join(self.home, self.id)

    def run_args(self, *extra):
        return ["run", self.task, "--workspace", self.ws, "--home", self.home, "--model-url", self.model.url,
                "--id", self.id, "--quiet", *extra]

    def requests(self):
        if not os.path.exists(self.log):
            return []
        return [json.loads(line) for line in open(self.log)]

    def tool_results(self):
        """The tool messages of the last model request, in order: what the model last received."""
        reqs = self.requests()
        return [m["content"] for m in reqs[-1]["body"]["messages"] if m["role"] == "tool"] if reqs else []

    def db(self):
        return sqlite3.connect(os.path.join(self.run_dir, "journal.db"))

    def query(self, sql, *params):
        db = self.db()
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def status(self):
        rows = self.query("SELECT status, reason FROM run")
        return rows[0] if rows else None

    def events(self, kind=None):
        """Archived and live events: (seq, kind, payload as JSON)."""
        rows = journal_events(self.run_dir)[0]
        return [(e["seq"], e["kind"], json.loads(e["payload"])) for e in rows if kind is None or e["kind"] == kind]

    def close(self):
        self.model.stop()


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60):
    """True once something listens on port (False if proc exits first or the time runs out)."""
    import socket
    import time
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def wait_port_file(port_file, proc, timeout=30):
    """The port a server wrote to port_file (mcp_fault_server.py http) once the file is there; None
    if proc exits first or the time runs out."""
    import time
    end = time.time() + timeout
    while not os.path.exists(port_file) and time.time() < end and proc.poll() is None:
        time.sleep(0.05)
    return int(open(port_file).read()) if os.path.exists(port_file) else None


def sdk_stdio_server(python, root, name, state=None, timeout_s=None):
    """The mcpServers entry that starts tests/cli/mcp_sdk_server.py over stdio with its ledger at
    ROOT/NAME.ledger (and its grown-tools state file, if any)."""
    here = os.path.dirname(os.path.abspath(__file__))
    entry = {"command": python, "args": [os.path.join(here, "mcp_sdk_server.py"), "stdio",
                                         os.path.join(root, name + ".ledger")] + ([state] if state else [])}
    if timeout_s is not None:
        entry["timeout_s"] = timeout_s
    return entry


def run_mcp_case(clawnet, root, name, turns, servers, *extra, ws_name="ws", env=None, timeout=120):
    """A Case run to its end (.proc) with {"mcpServers": servers} as its --mcp-config (.cfg) and
    the extra arguments; ws_name other than "ws" makes the workspace that folder of the case."""
    c = Case(root, name, turns)
    if ws_name != "ws":
        c.ws = os.path.join(c.dir, ws_name)
        os.makedirs(c.ws)
    c.cfg = os.path.join(c.dir, "mcp.json")
    with open(c.cfg, "w") as f:
        json.dump({"mcpServers": servers}, f)
    c.proc = agent(clawnet, *c.run_args("--mcp-config", c.cfg, *extra), env=env, timeout=timeout)
    return c


class SdkHttpServer:
    """tests/cli/mcp_sdk_server.py over streamable HTTP on a free port, for a with-block;
    .ok says whether it came up."""

    def __init__(self, python, root, name, state=None):
        here = os.path.dirname(os.path.abspath(__file__))
        self.port = free_port()
        args = [python, os.path.join(here, "mcp_sdk_server.py"), "http", os.path.join(root, name + ".ledger"),
                str(self.port)] + ([state] if state else [])
        self.stderr = open(os.path.join(root, name + ".stderr"), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr)
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.ok = False

    def __enter__(self):
        self.ok = wait_port(self.port, self.proc)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.stderr.close()
