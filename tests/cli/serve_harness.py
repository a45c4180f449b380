"""A `clawnet serve` process for tests: a random checkpoint with DeepSeek-V4's real vocabulary
(real_vocab.make_checkpoint), the server started on a free port (--port 0; the port is read from
its "listening on http://HOST:PORT" line), /health polled until it answers, and a clean stop.

    import serve_harness
    with tempfile.TemporaryDirectory() as tmp:
        model = serve_harness.make_model(tmp)
        with serve_harness.Server(CLAWNET, model, "--parallel", "2") as server:
            server.url            # "http://127.0.0.1:PORT"
            server.base_url       # server.url + "/v1", for the openai and anthropic SDKs
            server.request("GET", "/health")   # (status, headers, body bytes)
        # leaving the block sends SIGTERM and checks the exit status (server.returncode)

Only the standard library (http.client, subprocess, threading)."""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_vocab  # noqa: E402

LISTENING = re.compile(r"clawnet serve: listening on http://(\[[^\]]+\]|[^:/\s]+):(\d+) \(model (.*)\)$")


def make_model(tmp, name="model"):
    """A random checkpoint with the real vocabulary and its tokenizer.json under tmp/name."""
    return real_vocab.make_checkpoint(os.path.join(tmp, name))


class ServerError(RuntimeError):
    pass


class Server:
    """`clawnet serve -m MODEL --port 0 -t THREADS *args`, started at construction."""

    def __init__(self, binary, model, *args, threads=2, start_timeout=120, env=None):
        self.command = [binary, "serve", "-m", model, "--port", "0", "-t", str(threads), *args]
        self.stderr_lines = []
        self._listening = threading.Event()
        self.host = self.port = self.model_name = None
        self.returncode = None
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, errors="replace", env=env)
        self._readers = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        self.stdout_text = ""
        for t in self._readers:
            t.start()
        deadline = time.monotonic() + start_timeout
        while not self._listening.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                for t in self._readers:
                    t.join(5)
                raise ServerError(f"clawnet serve did not start (exit {self.process.returncode}):\n{self.stderr()}")
        self.url = f"http://{self.host}:{self.port}"
        self.base_url = self.url + "/v1"
        while True:  # listening means accepting; /health confirms the routes answer
            try:
                status, _, _ = self.request("GET", "/health", timeout=5)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"/health did not answer:\n{self.stderr()}")
            time.sleep(0.05)

    def _read_stderr(self):
        for line in self.process.stderr:
            line = line.rstrip("\n")
            self.stderr_lines.append(line)
            m = LISTENING.search(line)
            if m and not self._listening.is_set():
                self.host, self.port, self.model_name = m.group(1), int(m.group(2)), m.group(3)
                self._listening.set()

    def _read_stdout(self):
        self.stdout_text = self.process.stdout.read()

    def stderr(self):
        return "\n".join(self.stderr_lines)

    def connection(self, timeout=60):
        """A new keep-alive connection to the server."""
        return http.client.HTTPConnection(self.host.strip("[]"), self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=60):
        """One request on a fresh connection: (status, headers as a lowercase-keyed dict, body bytes).
        A dict or list body is sent as JSON."""
        conn = self.connection(timeout)
        try:
            return send(conn, method, path, body, headers)
        finally:
            conn.close()

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends sig and waits; returns the exit status (also in self.returncode)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise ServerError(f"clawnet serve did not stop within {timeout} s after {sig!r}:\n{self.stderr()}")
        for t in self._readers:
            t.join(10)
        self.returncode = self.process.returncode
        return self.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is None and code != 0:
            raise ServerError(f"clawnet serve exited with {code}:\n{self.stderr()}")
        return False


def send(conn, method, path, body=None, headers=None):
    """One request on an open http.client connection: (status, lowercase headers, body bytes)."""
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data
