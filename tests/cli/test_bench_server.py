"""`clawnet bench --server URL` against a live `clawnet serve` on a random checkpoint with the real
vocabulary (serve_harness). The oracle is the server's own /metrics, read before and after: its
generated-token counter must have grown by exactly the completion tokens the bench reports, and its
request counter by the requests the bench says it sent; the extended conversation must report
cached prompt tokens (the server's prefix reuse); an unreachable server, a missing API key (HTTP
401, the server's message printed) and bad options fail with clear messages. No speed is asserted:
the numbers are only checked to be present and positive."""
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_harness  # noqa: E402

CLAWNET = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def metrics(server):
    status, _, body = server.request("GET", "/metrics", headers={"Authorization": "Bearer " + KEY})
    assert status == 200, (status, body)
    values = {}
    for line in body.decode().splitlines():
        m = re.fullmatch(r"([a-z_]+)(\{[^}]*\})? (\S+)", line)
        if m:
            values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values


def bench(*args):
    return subprocess.run([CLAWNET, "bench", *args], capture_output=True, text=True, timeout=600)


KEY = "bench-test-key-0123456789"


class FakeServer(http.server.BaseHTTPRequestHandler):
    """Lists a model, then answers every chat completion with the stream in self.server.stream."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = self.server.stream.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def bench_against(stream):
    """The bench against a stdlib server that sends `stream` as every chat completion's SSE body."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeServer)
    httpd.stream = stream
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        return bench("--server", f"http://127.0.0.1:{httpd.server_address[1]}", "--users", "1", "-n", "2", "-r", "1")
    finally:
        httpd.shutdown()
        httpd.server_close()


CHUNK = 'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
USAGE = 'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n'

with tempfile.TemporaryDirectory() as tmp:
    # Unreachable: a port that was free a moment ago.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = bench("--server", f"http://127.0.0.1:{port}", "--users", "1", "-n", "2", "-r", "1")
    check(r.returncode == 1, f"unreachable server: exit {r.returncode}")
    check("cannot reach" in r.stderr and str(port) in r.stderr, f"unreachable server: message {r.stderr!r}")
    r = bench("--server", "127.0.0.1:8080")
    check(r.returncode == 2 and "http://" in r.stderr, f"address without a scheme: {r.returncode} {r.stderr!r}")
    r = bench("--server", "http://127.0.0.1:1", "--users", "0")
    check(r.returncode == 2 and "--users" in r.stderr, f"--users 0: {r.returncode} {r.stderr!r}")
    r = bench("--server", "http://127.0.0.1:1", "--help")
    check(r.returncode == 0 and "per-user" in r.stdout and "cached_tokens" in r.stdout, "--server --help")

    # Malformed streams, each named in the message.
    r = bench_against(CHUNK + "data: {not json\n\n")
    check(r.returncode == 1 and "malformed stream" in r.stderr and "not json" in r.stderr,
          f"bad JSON in the stream: {r.returncode} {r.stderr!r}")
    r = bench_against(CHUNK + "data: [DONE]\n\n")
    check(r.returncode == 1 and "no usage chunk" in r.stderr, f"stream without usage: {r.returncode} {r.stderr!r}")
    r = bench_against(CHUNK + USAGE)
    check(r.returncode == 1 and "[DONE]" in r.stderr, f"stream without [DONE]: {r.returncode} {r.stderr!r}")
    r = bench_against(CHUNK + 'data: {"error":{"message":"engine fell over","type":"server_error"}}\n\n')
    check(r.returncode == 1 and "engine fell over" in r.stderr, f"error event: {r.returncode} {r.stderr!r}")

    key_file = os.path.join(tmp, "key")
    with open(key_file, "w") as f:
        f.write(KEY + "\n")
    os.chmod(key_file, 0o600)
    model = serve_harness.make_model(tmp)
    with serve_harness.Server(CLAWNET, model, "--parallel", "2", "--api-key-file", key_file) as server:
        # Without the key: the server's 401 and its message.
        r = bench("--server", server.url, "--users", "1", "-n", "2", "-r", "1")
        status, _, body = server.request("GET", "/v1/models")
        message = json.loads(body)["error"]["message"]
        check(status == 401 and r.returncode == 1 and "HTTP 401" in r.stderr and message in r.stderr,
              f"no API key: exit {r.returncode}, {r.stderr!r}, the server says {message!r}")

        before = metrics(server)
        out = os.path.join(tmp, "bench.json")
        r = bench("--server", server.url + "/v1", "--api-key-file", key_file, "--users", "1,2", "-n", "4",
                  "-r", "1", "-p", "50", "--json", out)
        after = metrics(server)
        if not check(r.returncode == 0, f"bench exit {r.returncode}: {r.stderr}"):
            raise SystemExit("FAIL: " + "; ".join(failures))
        print(r.stdout, end="")
        with open(out) as f:
            j = json.load(f)
        conc = j["concurrency"]
        check([c["users"] for c in conc] == [1, 2], f"user counts {[c['users'] for c in conc]}")
        check([c["requests"] for c in conc] == [1, 2], f"requests per count {[c['requests'] for c in conc]}")
        p = j["prefix_cache"]
        check(p["requests"] == 2, f"prefix requests {p['requests']}")
        check(j["requests_total"] == 1 + 2 + 2, f"requests_total {j['requests_total']}")
        check(j["completion_tokens_total"] == sum(c["completion_tokens"] for c in conc) + p["completion_tokens"],
              "completion_tokens_total is the sum of its parts")
        for c in conc:
            check(1 <= c["completion_tokens"] <= 4 * c["requests"], f"completion tokens {c}")
            check(c["aggregate_tokens_per_s"]["median"] > 0, f"aggregate tok/s {c}")
            check(c["ttft_ms"] is None or c["ttft_ms"]["median"] >= 0, f"ttft {c}")
        # The server's own counters.
        gen = after["clawnet_generation_tokens_total"] - before["clawnet_generation_tokens_total"]
        reqs = after["clawnet_requests_total"] - before["clawnet_requests_total"]
        check(gen == j["completion_tokens_total"],
              f"server generated {gen} tokens, bench reports {j['completion_tokens_total']}")
        check(reqs == j["requests_total"], f"server counted {reqs} requests, bench sent {j['requests_total']}")
        cached = after["clawnet_prompt_tokens_cached_total"] - before["clawnet_prompt_tokens_cached_total"]
        check(0 < p["cold_prompt_tokens"] < p["prompt_tokens"], f"cold prompt {p['cold_prompt_tokens']} tokens")
        check(p["cached_tokens"] > 0, f"extended conversation: cached_tokens {p['cached_tokens']}")
        check(p["cached_tokens"] < p["prompt_tokens"], f"cached {p['cached_tokens']} of {p['prompt_tokens']}")
        check(cached >= p["cached_tokens"], f"server counted {cached} cached tokens, bench saw {p['cached_tokens']}")
        check(f"{p['cached_tokens']} of {p['prompt_tokens']} prompt tokens cached" in r.stdout, "table prints cached")

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("test_bench_server: ok")
