"""Shared helpers for the agent runtime tests that run `clawnet agent` against the scripted model
(agent_scripted_model.py): a fresh workspace, state home and model per case."""
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
        rows = self.query("SELECT seq, kind, payload FROM events ORDER BY seq")
        return [(seq, k, json.loads(p)) for seq, k, p in rows if kind is None or k == kind]

    def close(self):
        self.model.stop()
