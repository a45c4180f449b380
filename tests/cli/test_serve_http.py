#!/usr/bin/env python3
"""clawnet serve's HTTP layer and its own routes, driven with http.client on a random checkpoint
with DeepSeek's real vocabulary: /health, /v1/models, /tokenize against HF tokenizers' encode,
/detokenize against HF's decode and as a round trip, /metrics as Prometheus text (checked line by
line against the exposition format), 404/405/413/401 and malformed bodies with each API's error
JSON, API keys, keep-alive on one connection, a bounded loopback load test (threads, zero
errors), clean exits on SIGINT and SIGTERM, and the command line's own errors.

Usage: test_serve_http.py CLAWNET_BINARY   (run from the repository root; CTest does this)
"""
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_vocab  # noqa: E402
import serve_harness  # noqa: E402
from serve_harness import Server, send  # noqa: E402

CLAWNET = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def as_json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


def is_openai_error(status, body, want_status, code=None):
    j = as_json(body)
    e = j.get("error") if isinstance(j, dict) else None
    return (status == want_status and isinstance(e, dict) and set(j) == {"error"} and isinstance(e.get("message"), str)
            and e.get("message") and e.get("type") == ("invalid_request_error" if status < 500 else "server_error")
            and "param" in e and e["param"] is None and "code" in e and e["code"] == code)


ANTHROPIC_TYPES = {401: "authentication_error", 404: "not_found_error", 405: "invalid_request_error",
                   413: "request_too_large", 400: "invalid_request_error"}


def is_anthropic_error(status, body, want_status):
    j = as_json(body)
    return (status == want_status and isinstance(j, dict) and j.get("type") == "error" and set(j) == {"type", "error"}
            and j["error"].get("type") == ANTHROPIC_TYPES[want_status] and isinstance(j["error"].get("message"), str))


# The Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats).
METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(rf"^({METRIC_NAME})(\{{(?:{LABEL}(?:,{LABEL})*)?\}})? (\S+)(?: (-?\d+))?$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_prometheus(text):
    """{(name, labels): value}; records a failure for every line that breaks the format."""
    samples, typed, seen_samples = {}, {}, set()
    check(text.endswith("\n"), "metrics: the text ends with a newline")
    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                check(re.fullmatch(METRIC_NAME, parts[2]) is not None, f"metrics: bad name in {line!r}")
                if parts[1] == "TYPE":
                    check(len(parts) == 4 and parts[3] in TYPES, f"metrics: bad TYPE line {line!r}")
                    check(parts[2] not in typed and parts[2] not in seen_samples,
                          f"metrics: TYPE of {parts[2]} repeated or after its samples")
                    typed[parts[2]] = parts[3] if len(parts) == 4 else None
            continue
        m = SAMPLE.match(line)
        if not check(m is not None, f"metrics: line {line!r} is not 'name{{labels}} value'"):
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            check(False, f"metrics: value of {line!r} is not a float")
            continue
        check(not math.isnan(value), f"metrics: NaN in {line!r}")
        name = m.group(1)
        seen_samples.add(name)
        check(name in typed, f"metrics: {name} has no TYPE line before its samples")
        if typed.get(name) == "counter":
            check(name.endswith("_total") and value >= 0, f"metrics: counter {line!r}")
        key = (name, m.group(2) or "")
        check(key not in samples, f"metrics: {key} twice")
        samples[key] = value
    return samples


hf = real_vocab.hf_tokenizer()
TEXTS = ["Hello, world!", "今日天氣好好，我哋去行山啦 😀", "  leading and trailing spaces  ", "line one\nline two\r\n\ttab",
         "<｜User｜>hi<｜Assistant｜></think>ok<｜end▁of▁sentence｜>", "数字 12345 and 3.14159", "",
         "a" * 5000, "混合 English 同 廣東話 in one sentence, 仲有 emoji 🎉🎉"]

with tempfile.TemporaryDirectory() as tmp:
    model = serve_harness.make_model(tmp)

    # ---- the command line's own errors, before any server runs
    r = subprocess.run([CLAWNET, "serve", "--help"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "--help exits 0")
    for opt in ["--host", "--port", "--api-key-file", "--parallel", "--queue", "--ctx", "--kv-dir", "--max-body",
                "--tokenizer", "--threads", "--model-name", "--timeout", "--max-connections", "--cache-size"]:
        check(opt in r.stdout, f"--help explains {opt}")
    for args, needle in [([], "-m MODEL is required"), (["-m", model, "--port", "70000"], "--port"),
                         (["-m", model, "--parallel", "0"], "--parallel"), (["-m", model, "--max-body", "12Q"], "--max-body"),
                         (["-m", model, "--bogus"], "unknown option")]:
        r = subprocess.run([CLAWNET, "serve", *args], capture_output=True, text=True, timeout=60)
        check(r.returncode == 2 and needle in r.stderr, f"serve {args}: exit 2 mentioning {needle!r}: {r.returncode} {r.stderr!r}")
    r = subprocess.run([CLAWNET, "serve", "-m", model, "--port", "0", "--api-key-file", os.path.join(tmp, "none")],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "API key file" in r.stderr, f"missing key file: {r.returncode} {r.stderr!r}")

    # ---- the main server: defaults, small body limit
    with Server(CLAWNET, model, "--max-body", "16384") as server:
        check(server.model_name == "model", f"default model name is the directory's: {server.model_name!r}")
        check(server.host == "127.0.0.1", f"loopback by default: {server.host}")

        # A second server on the same port says why it cannot listen.
        r = subprocess.run([CLAWNET, "serve", "-m", model, "--port", str(server.port)], capture_output=True, text=True,
                           timeout=60)
        check(r.returncode == 1 and "cannot listen" in r.stderr, f"port in use: {r.returncode} {r.stderr!r}")

        status, headers, body = server.request("GET", "/health")
        check(status == 200 and as_json(body) == {"status": "ok"}, f"/health: {status} {body!r}")

        status, headers, body = server.request("GET", "/v1/models")
        j = as_json(body)
        check(status == 200 and j and j.get("object") == "list" and [m.get("id") for m in j.get("data", [])] == ["model"]
              and j["data"][0].get("object") == "model" and isinstance(j["data"][0].get("created"), int),
              f"/v1/models: {status} {body!r}")
        status, _, body = server.request("GET", "/v1/models/model")
        check(status == 200 and as_json(body).get("id") == "model", f"/v1/models/model: {status} {body!r}")
        status, _, body = server.request("GET", "/v1/models", headers={"anthropic-version": "2023-06-01"})
        j = as_json(body)
        check(status == 200 and j and j["data"][0].get("type") == "model" and j["data"][0].get("id") == "model"
              and j.get("has_more") is False and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", j["data"][0]["created_at"]),
              f"/v1/models for Anthropic clients: {body!r}")

        # /tokenize equals HF's encode; /detokenize equals HF's decode and round-trips.
        for text in TEXTS:
            status, _, body = server.request("POST", "/tokenize", {"prompt": text})
            j = as_json(body)
            want = hf.encode(text, add_special_tokens=False).ids
            check(status == 200 and j and j.get("tokens") == want and j.get("count") == len(want),
                  f"/tokenize {text[:40]!r}: {status} {body[:200]!r} != {want[:20]}")
            status, _, body = server.request("POST", "/detokenize", {"tokens": want})
            j = as_json(body)
            check(status == 200 and j and j.get("prompt") == text == hf.decode(want, skip_special_tokens=False),
                  f"/detokenize round trip {text[:40]!r}: {status} {body[:200]!r}")
        status, _, body = server.request("POST", "/tokenize", {"content": "Hi there", "add_special_tokens": True})
        check(status == 200 and as_json(body)["tokens"] == hf.encode("Hi there", add_special_tokens=False).ids,
              f"/tokenize with llama.cpp's content: {body!r}")
        ids = [0, 1, 100, 128803, 5000, 70000, 129279]
        status, _, body = server.request("POST", "/detokenize", {"tokens": ids})
        check(status == 200 and as_json(body)["prompt"] == hf.decode(ids, skip_special_tokens=False),
              f"/detokenize ids {ids}: {body!r}")

        # Malformed bodies: a 400 with OpenAI's error JSON each, never a crash.
        bad = [(b"", "/tokenize"), (b"{", "/tokenize"), (b"[]", "/tokenize"), (b"null", "/tokenize"),
               (b'{"prompt": 1}', "/tokenize"), (b'{"prompt": "x", "add_special_tokens": "yes"}', "/tokenize"),
               (b'{"prompt": "\xff\xfe bad utf-8"}', "/tokenize"), (b'{"tokens": "1 2"}', "/detokenize"),
               (b'{"tokens": [-1]}', "/detokenize"), (b'{"tokens": [1.5]}', "/detokenize"),
               (b'{"tokens": [129280]}', "/detokenize"), (b'{"tokens": [1e300]}', "/detokenize"), (b'{"tokens": [1e400]}', "/detokenize"),
               (b'{"tokens": [-1e400]}', "/detokenize"),
               (b'{"tokens": [null]}', "/detokenize"), (b'{}', "/detokenize"), (b'\x00\x01\x02', "/detokenize"),
               (b'{"prompt": "' + b'\\' * 3 + b'"}', "/tokenize")]
        for data, path in bad:
            status, _, body = server.request("POST", path, data, {"Content-Type": "application/json"})
            check(is_openai_error(status, body, 400), f"POST {path} {data[:40]!r}: {status} {body!r}")

        # Unknown routes, wrong methods, bodies over --max-body: each API's error JSON.
        status, _, body = server.request("GET", "/v1/nothing")
        check(is_openai_error(status, body, 404), f"404: {status} {body!r}")
        status, _, body = server.request("POST", "/v1/messages/nothing", {})
        check(is_anthropic_error(status, body, 404), f"404 under /v1/messages: {status} {body!r}")
        status, headers, body = server.request("GET", "/tokenize")
        check(is_openai_error(status, body, 405) and headers.get("allow") == "POST", f"405: {status} {headers} {body!r}")
        status, _, body = server.request("DELETE", "/health")
        check(is_openai_error(status, body, 405), f"405 on /health: {status} {body!r}")
        status, _, body = server.request("POST", "/tokenize", {"prompt": "x" * 16371})  # 16,385 bytes
        check(is_openai_error(status, body, 413), f"413: {status} {body[:200]!r}")
        status, _, body = server.request("POST", "/tokenize", {"prompt": "x" * 16370})  # 16,384: the limit
        check(status == 200, f"a body under --max-body is served: {status} {body[:100]!r}")

        # Keep-alive: many requests on one connection, the socket never replaced.
        conn = server.connection()
        conn.connect()
        sock = conn.sock
        for i in range(20):
            status, headers, body = send(conn, "POST", "/tokenize", {"prompt": f"request {i}"})
            check(status == 200 and as_json(body)["tokens"] == hf.encode(f"request {i}", add_special_tokens=False).ids
                  and headers.get("connection", "").lower() != "close", f"keep-alive request {i}: {status} {headers}")
            status, _, _ = send(conn, "GET", "/nowhere")  # an error does not close the connection either
            check(status == 404, "keep-alive 404")
        check(conn.sock is sock, "keep-alive: all requests on one socket")
        conn.close()

        # A client that disconnects from a stream cancels its engine work (serve_stream_write fails,
        # the adapter cancels its ticket): the engine's cancelled counter goes up and nothing runs.
        def engine_metrics():
            _, _, body = server.request("GET", "/metrics")
            m = parse_prometheus(body.decode())
            return (m[("clawnet_requests_cancelled_total", "")], m[("clawnet_requests_running", "")],
                    m[("clawnet_http_client_disconnects_total", "")])

        cancelled0, _, gone0 = engine_metrics()
        conn = server.connection()
        conn.request("POST", "/v1/chat/completions", body=json.dumps(
            {"model": "model", "messages": [{"role": "user", "content": "Tell me a long story"}], "max_tokens": 60000,
             "stream": True}), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        first = resp.readline()
        check(resp.status == 200 and first.startswith(b"data: {"), f"stream starts: {resp.status} {first[:80]!r}")
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            cancelled, running, gone = engine_metrics()
            # The HTTP layer counts the disconnect once it has joined the handler, which may be
            # after the engine has counted the cancel: wait for both.
            if cancelled > cancelled0 and running == 0 and gone > gone0:
                break
            time.sleep(0.05)
        check(cancelled == cancelled0 + 1 and running == 0 and gone == gone0 + 1,
              f"disconnect cancels the engine request: cancelled {cancelled0}->{cancelled}, running {running}, "
              f"disconnects {gone0}->{gone}")

        # Load: 32 threads, each on its own keep-alive connection, 40 requests each; zero errors.
        def metric_2xx():
            _, _, body = server.request("GET", "/metrics")
            return parse_prometheus(body.decode())[("clawnet_http_responses_total", '{code="2xx"}')]

        before = metric_2xx()
        errors, done = [], []
        lock = threading.Lock()
        expected = {t: hf.encode(t, add_special_tokens=False).ids for t in TEXTS}

        def worker(n):
            try:
                c = server.connection(timeout=120)
                for i in range(40):
                    text = TEXTS[(n + i) % len(TEXTS)]
                    if i % 3 == 0:
                        st, _, b = send(c, "GET", "/health")
                        ok = st == 200
                    elif i % 3 == 1:
                        st, _, b = send(c, "POST", "/tokenize", {"prompt": text})
                        ok = st == 200 and json.loads(b)["tokens"] == expected[text]
                    else:
                        st, _, b = send(c, "GET", "/v1/models")
                        ok = st == 200
                    with lock:
                        (done if ok else errors).append((n, i, st))
                c.close()
            except Exception as e:  # noqa: BLE001  (any failure is an error of the load test)
                with lock:
                    errors.append((n, repr(e)))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        check(not errors and len(done) == 32 * 40, f"load test: {len(errors)} errors {errors[:5]}, {len(done)} done")
        after = metric_2xx()
        check(after - before == 32 * 40 + 1, f"metrics count the load test's answers: {after - before}")  # +1: the first /metrics
        print(f"load test: {len(done)} requests on 32 connections, {len(errors)} errors", file=sys.stderr)

        # /metrics: the format line by line, and the series the issue asks for.
        status, headers, body = server.request("GET", "/metrics")
        check(status == 200 and headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
              f"/metrics content type: {headers}")
        samples = parse_prometheus(body.decode())
        names = {n for n, _ in samples}
        for name in ["clawnet_requests_total", "clawnet_prompt_tokens_total", "clawnet_generation_tokens_total",
                     "clawnet_decode_tokens_per_second", "clawnet_requests_waiting", "clawnet_requests_running",
                     "clawnet_kv_bytes", "clawnet_prefix_cache_lookups_total", "clawnet_http_responses_total",
                     "clawnet_http_client_disconnects_total"]:
            check(name in names, f"/metrics has {name}")
        check(samples.get(("clawnet_http_responses_total", '{code="4xx"}'), 0) >= len(bad) + 7,
              "/metrics counts the 4xx answers")

        # A client that leaves with a request half sent does not disturb the server.
        s = socket.create_connection((server.host, server.port))
        s.sendall(b"POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":")
        s.close()
        s = socket.create_connection((server.host, server.port))
        s.sendall(b"GARBAGE\r\n\r\n")
        s.recv(4096)
        s.close()
        status, _, _ = server.request("GET", "/health")
        check(status == 200, "server answers after broken clients")

        # An idle keep-alive connection stays open while the server stops (below, on SIGTERM).
        idle = server.connection()
        send(idle, "GET", "/health")
    check(server.returncode == 0, f"SIGTERM with an idle connection open: exit {server.returncode}")
    check(any("SIGTERM: stopping" in line for line in server.stderr_lines), "SIGTERM is reported")
    idle.close()

    # ---- API keys, a model name, SIGINT
    key_file = os.path.join(tmp, "key")
    with open(key_file, "w") as f:
        f.write("  sk-test-Key_123  \nnot the key\n")
    os.chmod(key_file, 0o644)
    kv_dir = os.path.join(tmp, "kv")
    in_flight = []
    server = Server(CLAWNET, model, "--api-key-file", key_file, "--model-name", "deepseek-v4-test", "--kv-dir", kv_dir,
                    "--timeout", "1")
    try:
        check(any("can be read by other users" in line for line in server.stderr_lines),
              "a key file others can read is warned about")
        # --timeout: a client that sends half a request, or goes idle after one, is disconnected.
        for data in [b"GET /health HTTP/1.1\r\nHost: x\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"]:
            s = socket.create_connection((server.host, server.port))
            s.settimeout(60)
            s.sendall(data)
            got = b""
            while True:
                piece = s.recv(4096)
                if not piece:
                    break
                got += piece
            s.close()
            check(got.count(b"HTTP/1.1 ") == data.count(b"\r\n\r\n"),
                  f"--timeout closes the connection after {data!r}: {got[:60]!r}")

        # --kv-dir reaches the engine: its store's series are in /metrics, and a second server
        # on the same directory is refused.
        status, _, body = server.request("GET", "/metrics", headers={"x-api-key": "sk-test-Key_123"})
        samples = parse_prometheus(body.decode()) if status == 200 else {}
        check(("clawnet_kv_store_bytes", "") in samples and ("clawnet_kv_store_saves_total", "") in samples,
              f"--kv-dir: the store's metrics: {status}")
        r = subprocess.run([CLAWNET, "serve", "-m", model, "--port", "0", "--kv-dir", kv_dir], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode == 1 and kv_dir in r.stderr, f"a second server on one --kv-dir: {r.returncode} {r.stderr!r}")
        # The activations are part of the store's identity (a state computed with 8-bit activations
        # is not the one an exact run computes): with --act f32 the same directory gives another store.
        stores = set(os.listdir(kv_dir))
        with Server(CLAWNET, model, "--kv-dir", kv_dir, "--act", "f32") as exact:
            check(len(set(os.listdir(kv_dir)) - stores) == 1, f"--act f32: a store of its own under --kv-dir: "
                  f"{sorted(stores)} -> {sorted(os.listdir(kv_dir))} {exact.stderr_lines[-3:]}")
            check(any("clawnet serve: activations f32: int8 dots on 0.0 %" in line for line in exact.stderr_lines),
                  f"--act f32 is said at start: {exact.stderr_lines}")
        check(server.model_name == "deepseek-v4-test", f"--model-name: {server.model_name}")
        for headers, want in [({}, 401), ({"Authorization": "Bearer sk-test-Key_123"}, 200),
                              ({"Authorization": "bearer sk-test-Key_123"}, 200), ({"x-api-key": "sk-test-Key_123"}, 200),
                              ({"Authorization": "Bearer sk-test-Key_12"}, 401), ({"Authorization": "sk-test-Key_123"}, 401),
                              ({"x-api-key": "not the key"}, 401), ({"Authorization": "Bearer SK-TEST-KEY_123"}, 401)]:
            status, _, body = server.request("GET", "/v1/models", headers=headers)
            check(status == want, f"key {headers}: {status} != {want}")
            if want == 401:
                check(is_openai_error(status, body, 401, "invalid_api_key"), f"401 body: {body!r}")
            else:
                check(as_json(body)["data"][0]["id"] == "deepseek-v4-test", "model name in /v1/models")
        status, _, body = server.request("POST", "/v1/messages", {})
        check(is_anthropic_error(status, body, 401), f"401 under /v1/messages: {status} {body!r}")
        for path in ["/metrics", "/nowhere"]:
            status, _, _ = server.request("GET", path)
            check(status == 401, f"{path} needs the key: {status}")
        status, _, _ = server.request("GET", "/health")
        check(status == 200, "/health needs no key")
        # Stopping with generations in flight (one streamed, one whole): the server still exits 0,
        # the clients see their connections end.
        outcomes = []

        def generate(stream):
            c = server.connection(timeout=120)
            try:
                c.request("POST", "/v1/chat/completions", body=json.dumps(
                    {"model": "deepseek-v4-test", "messages": [{"role": "user", "content": "Go on forever"}],
                     "max_tokens": 60000, "stream": stream}),
                    headers={"Content-Type": "application/json", "x-api-key": "sk-test-Key_123"})
                r = c.getresponse()
                outcomes.append((stream, r.status, len(r.read())))
            except (OSError, http.client.HTTPException) as e:
                outcomes.append((stream, type(e).__name__))
            finally:
                c.close()

        in_flight = [threading.Thread(target=generate, args=(stream,)) for stream in (True, False)]
        for t in in_flight:
            t.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # both requests are decoding
            _, _, body = server.request("GET", "/metrics", headers={"x-api-key": "sk-test-Key_123"})
            if parse_prometheus(body.decode()).get(("clawnet_requests_running", ""), 0) == 2:
                break
            time.sleep(0.05)
    finally:
        code = server.stop(signal.SIGINT)
    for t in in_flight:
        t.join(60)
    check(code == 0 and any("SIGINT: stopping" in line for line in server.stderr_lines),
          f"SIGINT with two generations in flight: exit {code}, {server.stderr()[-300:]!r}")
    check(len(outcomes) == 2 and not any(t.is_alive() for t in in_flight), f"in-flight clients ended: {outcomes}")
    print(f"stopped with two generations in flight: {outcomes}", file=sys.stderr)

if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("test_serve_http.py: ok", file=sys.stderr)
