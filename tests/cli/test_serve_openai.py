"""The OpenAI endpoints of `clawnet serve`, driven by the official `openai` SDK (PyPI) on a random
checkpoint with DeepSeek-V4's real vocabulary (serve_harness): plain and streamed chat (joined
deltas equal the whole reply for the same seed), reasoning_content in thinking mode, stop strings
(checked against the reply without them), max_tokens -> "length", seed determinism, logprobs,
usage with cached prompt tokens on a follow-up, concurrent clients (each equal to its request
alone), a client that goes away, /v1/completions, and errors as the SDK's exception types.

The model is random, so its text is noise: the oracles are the API's invariants and the
server's own replies to the same seed, never text the test expects the model to write."""
import json
import math
import os
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_vocab  # noqa: E402
import serve_harness  # noqa: E402

import openai  # noqa: E402

CLAWNET = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


USER = [{"role": "user", "content": "Tell me about the harbour in Hong Kong."}]


def chat(client, **kw):
    kw.setdefault("model", "m")
    kw.setdefault("messages", USER)
    kw.setdefault("max_tokens", 24)
    kw.setdefault("seed", 7)
    return client.chat.completions.create(**kw)


def stream_chat(client, **kw):
    """Streams a chat and joins it: (content, reasoning, finish_reason, usage, chunks, tool calls)."""
    kw.setdefault("stream_options", {"include_usage": True})
    chunks = list(chat(client, stream=True, **kw))
    content, reasoning, finish, usage, calls = "", "", None, None, {}
    for c in chunks:
        if c.usage is not None:
            usage = c.usage
        for choice in c.choices:
            d = choice.delta
            content += d.content or ""
            reasoning += getattr(d, "reasoning_content", None) or ""
            for tc in d.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    call["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    return content, reasoning, finish, usage, chunks, calls


def test_plain_and_stream(client):
    r = chat(client)
    m = r.choices[0].message
    check(r.object == "chat.completion" and r.id.startswith("chatcmpl-"), f"object/id: {r.object} {r.id}")
    check(m.role == "assistant" and isinstance(m.content, str), f"message: {m}")
    check(getattr(m, "reasoning_content", None) is None, "chat mode has no reasoning_content")
    check(r.choices[0].finish_reason in ("stop", "length"), f"finish_reason {r.choices[0].finish_reason}")
    u = r.usage
    check(u.prompt_tokens > 0 and 0 < u.completion_tokens <= 24 and u.total_tokens == u.prompt_tokens + u.completion_tokens,
          f"usage {u}")
    check(u.prompt_tokens_details is not None and u.prompt_tokens_details.cached_tokens >= 0, f"cached tokens in {u}")

    content, reasoning, finish, usage, chunks, _ = stream_chat(client)
    check(content == m.content, f"streamed content {content!r} != {m.content!r}")
    check(reasoning == "", "no streamed reasoning in chat mode")
    check(finish == r.choices[0].finish_reason, f"streamed finish {finish}")
    check(chunks[0].choices[0].delta.role == "assistant", "the first chunk carries the role")
    check(chunks[-1].choices == [] and usage is not None, "the last chunk carries usage and no choices")
    check(all(c.usage is None for c in chunks[:-1]), "only the last chunk carries usage")
    check(all(c.id == chunks[0].id and c.object == "chat.completion.chunk" for c in chunks), "one id for all chunks")
    check(usage.prompt_tokens == u.prompt_tokens and usage.completion_tokens == u.completion_tokens,
          f"streamed usage {usage} vs {u}")
    # The same prompt again is a prefix-cache hit (all but possibly the last prompt token).
    check(usage.prompt_tokens_details.cached_tokens >= u.prompt_tokens - 1,
          f"repeated prompt cached {usage.prompt_tokens_details.cached_tokens} of {u.prompt_tokens}")


def test_length_and_seed(client):
    r = chat(client, max_tokens=5, seed=11)
    check(r.choices[0].finish_reason == "length" or r.usage.completion_tokens < 5, f"finish {r.choices[0].finish_reason}")
    if r.choices[0].finish_reason == "length":
        check(r.usage.completion_tokens == 5, f"length after {r.usage.completion_tokens} tokens")
    again = chat(client, max_tokens=5, seed=11)
    check(again.choices[0].message.content == r.choices[0].message.content, "same seed, same reply")
    others = {chat(client, max_tokens=8, seed=s).choices[0].message.content for s in (1, 2, 3)}
    check(len(others) > 1, f"different seeds give different replies: {others}")
    # max_completion_tokens wins over max_tokens.
    r = chat(client, max_tokens=20, extra_body={"max_completion_tokens": 3}, seed=12)
    check(r.usage.completion_tokens <= 3, f"max_completion_tokens: {r.usage.completion_tokens}")


def test_reasoning(client):
    kw = dict(max_tokens=20, seed=5, extra_body={"thinking": {"type": "enabled"}})
    r = chat(client, **kw)
    m = r.choices[0].message
    reasoning = getattr(m, "reasoning_content", None)
    # The prompt ended with <think>: the random model's text is reasoning until it samples </think>.
    check(reasoning, f"thinking mode gives reasoning_content: {m}")
    content, s_reasoning, finish, _, _, _ = stream_chat(client, **kw)
    check(s_reasoning == (reasoning or "") and content == (m.content or ""), "streamed reasoning and content equal the whole reply")
    # reasoning_effort alone turns thinking on; "none" turns it off.
    r = chat(client, max_tokens=6, seed=5, reasoning_effort="high")
    check(getattr(r.choices[0].message, "reasoning_content", None), "reasoning_effort high thinks")
    r = chat(client, max_tokens=6, seed=5, extra_body={"reasoning_effort": "none"})
    check(getattr(r.choices[0].message, "reasoning_content", None) is None, "reasoning_effort none does not")


def test_stop_strings(client):
    base = chat(client, max_tokens=40, seed=21)
    text = base.choices[0].message.content
    check(len(text) >= 12, f"a reply long enough to cut: {text!r}")
    if len(text) < 12:
        return
    # A stop string from the middle of the reply (two to four characters, possibly across tokens).
    start = len(text) // 2
    stop = text[start:start + 3]
    want = text[:text.index(stop)]
    r = chat(client, max_tokens=40, seed=21, stop=[stop, "\u2603never"])
    check(r.choices[0].message.content == want, f"stop {stop!r}: {r.choices[0].message.content!r} != {want!r}")
    check(r.choices[0].finish_reason == "stop", f"stop finish {r.choices[0].finish_reason}")
    content, _, finish, _, _, _ = stream_chat(client, max_tokens=40, seed=21, stop=stop)
    check(content == want and finish == "stop", f"streamed stop: {content!r}, {finish}")
    # A stop string that never appears changes nothing.
    r = chat(client, max_tokens=40, seed=21, stop="\u2603never")
    check(r.choices[0].message.content == text, "an absent stop string changes nothing")


def test_logprobs(client):
    r = chat(client, max_tokens=8, seed=3, temperature=0, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs
    check(lp is not None and len(lp.content) > 0, f"logprobs {lp}")
    if not lp:
        return
    n_text = r.usage.completion_tokens - (1 if r.choices[0].finish_reason == "stop" else 0)
    check(len(lp.content) == n_text, f"{len(lp.content)} logprobs for {r.usage.completion_tokens} tokens")
    joined = b"".join(bytes(t.bytes) for t in lp.content).decode("utf-8", "replace")
    check(joined.startswith(r.choices[0].message.content), "the tokens' bytes spell the reply")
    for t in lp.content:
        top = t.top_logprobs
        check(len(top) == 3, f"3 alternatives: {top}")
        check(all(a.logprob <= 0 for a in top) and t.logprob <= 0, "log-probabilities are <= 0")
        check(all(top[i].logprob >= top[i + 1].logprob for i in range(len(top) - 1)), "alternatives sorted")
        check(sum(math.exp(a.logprob) for a in top) <= 1 + 1e-5, "alternatives' probabilities sum to <= 1")
        # Greedy: the chosen token is the most likely one.
        check(bytes(t.bytes) == bytes(top[0].bytes) and abs(t.logprob - top[0].logprob) < 1e-6,
              f"greedy picks the top alternative: {t.token!r} vs {top[0].token!r}")
    _, _, _, _, chunks, _ = stream_chat(client, max_tokens=8, seed=3, temperature=0, logprobs=True, top_logprobs=3)
    streamed = [t for c in chunks for ch in c.choices if ch.logprobs and ch.logprobs.content for t in ch.logprobs.content]
    check([(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in lp.content], "streamed logprobs")


def test_follow_up_cached(client):
    """A reply re-sent as its text is rendered as the ids it was sampled as (the reply registry), so
    the follow-up reuses the first prompt and the whole reply but its last id (sampled, never fed).
    Unless the reply holds an added token (the random model samples <｜place▁holder▁no▁N｜> now and
    then): the client's text can only be text there, so the server tokenizes it as text, and only
    the first prompt is reused. HF tokenizers' added vocabulary says which case a reply is."""
    added = {t.content for t in real_vocab.hf_tokenizer().get_added_tokens_decoder().values()}
    seen = set()
    for seed in (31, 2, 3, 1, 4, 5, 6, 8):  # here seed 31's reply holds an added token, seed 2's does not
        if seen == {True, False}:
            break
        first = chat(client, max_tokens=12, seed=seed, logprobs=True)
        history = USER + [{"role": "assistant", "content": first.choices[0].message.content},
                          {"role": "user", "content": "And the ferries?"}]
        second = chat(client, messages=history, max_tokens=4, seed=32)
        cached = second.usage.prompt_tokens_details.cached_tokens
        check(second.usage.prompt_tokens > first.usage.prompt_tokens, "the follow-up prompt is longer")
        whole = first.usage.prompt_tokens + first.usage.completion_tokens - 1
        has_added = any(t.token in added for t in first.choices[0].logprobs.content)
        seen.add(has_added)
        if has_added:
            check(first.usage.prompt_tokens <= cached < whole,
                  f"seed {seed}: a reply with an added token reuses the first prompt only: cached {cached}, whole {whole}")
        else:
            check(cached >= whole, f"seed {seed}: the follow-up reuses the first prompt and reply: cached {cached} < {whole}")
    check(seen == {True, False}, f"both cases were exercised: {seen}")


def test_concurrent(client):
    seeds = [101, 102, 103, 104, 105, 106]
    alone = {s: chat(client, max_tokens=10, seed=s).choices[0].message.content for s in seeds}
    together, errors = {}, []

    def one(s):
        try:
            if s % 2:
                together[s] = stream_chat(client, max_tokens=10, seed=s)[0]
            else:
                together[s] = chat(client, max_tokens=10, seed=s).choices[0].message.content
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(s,)) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    check(not errors, f"concurrent errors: {errors}")
    check(together == alone, "each concurrent reply equals the same request alone")


def cancelled_total(server):
    _, _, body = server.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("clawnet_requests_cancelled_total "):
            return int(float(line.split()[1]))
    return None


def test_client_gone(server, client):
    """A streaming client that disconnects after the first chunk: its request is cancelled (the
    engine's counter, on /metrics, goes up long before 1900 tokens could be decoded) and the server
    carries on."""
    before = cancelled_total(server)
    body = json.dumps({"model": "m", "messages": USER, "max_tokens": 1900, "seed": 1, "stream": True}).encode()
    sock = socket.create_connection((server.host.strip("[]"), server.port), timeout=30)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    got = b""
    while b"data: " not in got:
        piece = sock.recv(4096)
        if not piece:
            break
        got += piece
    sock.close()
    check(got.startswith(b"HTTP/1.1 200") and b"text/event-stream" in got, f"stream began: {got[:200]!r}")
    deadline = time.monotonic() + 30
    while cancelled_total(server) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    check(before is not None and cancelled_total(server) == before + 1, "the disconnected request was cancelled")
    r = chat(client, max_tokens=4, seed=2)
    check(r.choices[0].message.content is not None, "the server answers after a client went away")


def test_completions(client):
    r = client.completions.create(model="m", prompt="The harbour at night", max_tokens=6, seed=9)
    c = r.choices[0]
    check(r.object == "text_completion" and r.id.startswith("cmpl-"), f"completion object {r.object} {r.id}")
    check(isinstance(c.text, str) and c.finish_reason in ("stop", "length"), f"completion choice {c}")
    check(r.usage.prompt_tokens > 0 and r.usage.completion_tokens <= 6, f"completion usage {r.usage}")
    chunks = list(client.completions.create(model="m", prompt="The harbour at night", max_tokens=6, seed=9, stream=True))
    check("".join(ch.choices[0].text for ch in chunks if ch.choices) == c.text, "streamed completion equals the whole")
    hf = serve_harness.real_vocab.hf_tokenizer()
    ids = hf.encode("The harbour at night", add_special_tokens=False).ids
    by_ids = client.completions.create(model="m", prompt=ids, max_tokens=6, seed=9)
    check(by_ids.choices[0].text == c.text and by_ids.usage.prompt_tokens == len(ids),
          f"a prompt of HF's ids is the same prompt ({by_ids.usage.prompt_tokens} vs {len(ids)} ids)")
    r = client.completions.create(model="m", prompt=ids, max_tokens=6, seed=9, logprobs=2)
    lp = r.choices[0].logprobs
    check(lp is not None and len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset),
          f"completion logprobs {lp}")


# Parameters without strings: a random model closes a free-text value only by chance (it has to
# spell "</" and then pick the DSML token), so string parameters could run to max_tokens.
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for the coming days",
    "parameters": {"type": "object", "properties": {"days": {"type": "integer"}, "metric": {"type": "boolean"}},
                   "required": ["days", "metric"], "additionalProperties": False}}}
COUNT = {"type": "function", "function": {
    "name": "count", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}


def weather_arguments_valid(arguments):
    """WEATHER's schema, checked by hand: an object with an integer days, a boolean metric and
    nothing else."""
    try:
        a = json.loads(arguments)
    except ValueError:
        return False
    return (isinstance(a, dict) and set(a) == {"days", "metric"} and isinstance(a["days"], int)
            and not isinstance(a["days"], bool) and isinstance(a["metric"], bool))


def test_forced_tool_call(client):
    """tool_choice naming a tool: even the random model must answer with a valid call of it; the
    call sent back (assistant tool_calls + tool result) extends the cached prefix."""
    kw = dict(tools=[COUNT, WEATHER], tool_choice={"type": "function", "function": {"name": "get_weather"}},
              max_tokens=600, seed=4)
    r = chat(client, **kw)
    choice = r.choices[0]
    calls = choice.message.tool_calls or []
    check(choice.finish_reason == "tool_calls", f"forced call finish {choice.finish_reason}: {choice.message}")
    check(len(calls) >= 1 and all(c.function.name == "get_weather" for c in calls), f"forced calls {calls}")
    check(all(c.id.startswith("call_") and c.type == "function" for c in calls), "call ids and types")
    check(all(weather_arguments_valid(c.function.arguments) for c in calls),
          f"arguments valid against the schema: {[c.function.arguments for c in calls]}")
    content, _, finish, _, _, streamed = stream_chat(client, **kw)
    check(finish == "tool_calls" and len(streamed) == len(calls), f"streamed calls {streamed}")
    for i, c in enumerate(calls):
        s = streamed.get(i, {})
        check(s.get("name") == "get_weather" and s.get("arguments") == c.function.arguments,
              f"streamed call {i}: {s} vs {c.function.arguments}")
        check(s.get("id", "").startswith("call_"), "a streamed call's id arrives in its first fragment")
    # "required": some call, of either tool.
    r2 = chat(client, tools=[COUNT, WEATHER], tool_choice="required", max_tokens=600, seed=9)
    check(r2.choices[0].finish_reason == "tool_calls" and r2.choices[0].message.tool_calls, f"required: {r2.choices[0]}")
    # The round trip: the call as returned, its result, a new user turn. The server renders the
    # call's DSML bytes (kept by call id) as the ids the model sampled (kept by what they spell), so
    # the whole earlier prompt and reply come from the prefix cache: all but the reply's last id
    # (its end-of-sentence, sampled and never fed).
    for what, first, returned in (("whole", r, [c.model_dump() for c in calls]),
                                  ("streamed", None, [{"id": streamed[i]["id"], "type": "function",
                                                       "function": {"name": streamed[i]["name"],
                                                                    "arguments": streamed[i]["arguments"]}}
                                                      for i in sorted(streamed)])):
        history = USER + [{"role": "assistant", "content": (content if first is None else choice.message.content) or None,
                           "tool_calls": returned}]
        history += [{"role": "tool", "tool_call_id": c["id"], "content": f"18C and sunny ({what})"} for c in returned]
        history += [{"role": "user", "content": "And tomorrow?"}]
        follow = chat(client, messages=history, tools=[COUNT, WEATHER], max_tokens=4, seed=5)
        cached = follow.usage.prompt_tokens_details.cached_tokens
        whole = r.usage.prompt_tokens + r.usage.completion_tokens - 1  # the stream had the same seed: the same ids
        print(f"   tool round trip ({what}): first prompt {r.usage.prompt_tokens} + reply {r.usage.completion_tokens} "
              f"tokens, follow-up cached {cached} of {follow.usage.prompt_tokens}", file=sys.stderr)
        check(cached >= whole, f"the follow-up ({what}) reuses the earlier prompt and reply: {cached} < {whole}")
    # Thinking mode is covered by tests/test_serve_reply_ids.c: a random model forced to call a
    # tool reasons freely first and practically never samples </think> (one id in 129,280).


def test_response_format(client):
    # The random model writes long strings (few tokens close one), hence the room.
    r = chat(client, response_format={"type": "json_object"}, max_tokens=1500, seed=6)
    text = r.choices[0].message.content
    check(r.choices[0].finish_reason == "stop", f"json_object ended by EOS after the value: {r.choices[0].finish_reason}")
    try:
        check(isinstance(json.loads(text), dict), f"json_object gives an object: {text!r}")
    except ValueError:
        check(False, f"json_object gives JSON: {text!r}")
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"}},
              "required": ["ok", "n"], "additionalProperties": False}
    r = chat(client, response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
             max_tokens=1500, seed=8)
    text = r.choices[0].message.content
    if r.choices[0].finish_reason == "stop":
        try:
            v = json.loads(text)
            check(isinstance(v, dict) and set(v) == {"ok", "n"} and isinstance(v["ok"], bool)
                  and isinstance(v["n"], int) and not isinstance(v["n"], bool), f"json_schema: {text!r}")
        except ValueError:
            check(False, f"json_schema gives JSON: {text!r}")
    else:
        check(False, f"the random model did not finish its JSON in 1500 tokens: {text!r}")


def test_errors(client):
    def expect(exc_type, param, **kw):
        try:
            chat(client, **kw)
            check(False, f"{kw} was accepted")
        except exc_type as e:
            check(e.status_code == 400, f"{kw}: status {e.status_code}")
            check(e.param == param, f"{kw}: param {e.param!r}, want {param!r}")
            check(e.type == "invalid_request_error", f"{kw}: type {e.type}")
        except Exception as e:  # noqa: BLE001
            check(False, f"{kw}: {e!r}")

    expect(openai.BadRequestError, "temperature", temperature=5)
    expect(openai.BadRequestError, "messages", messages=[])
    expect(openai.BadRequestError, "messages[0]", messages=[{"role": "wizard", "content": "x"}])
    expect(openai.BadRequestError, "top_logprobs", top_logprobs=3)
    expect(openai.BadRequestError, "n", n=3)
    expect(openai.BadRequestError, "max_tokens", max_tokens=0)
    expect(openai.BadRequestError, "tool_choice",
           tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
           tool_choice={"type": "function", "function": {"name": "g"}})
    expect(openai.BadRequestError, "messages[0].content",
           messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}])
    # A prompt longer than the context is the engine's refusal, still a 400 before any stream byte.
    try:
        chat(client, messages=[{"role": "user", "content": "word " * 5000}], stream=True)
        check(False, "a prompt longer than the context was accepted")
    except openai.BadRequestError as e:
        check("ctx" in str(e) or "context" in str(e), f"context message: {e}")
    try:
        client.completions.create(model="m", prompt="x", echo=True)
        check(False, "echo was accepted")
    except openai.BadRequestError as e:
        check(e.param == "echo", f"echo param {e.param}")


def metric(server, name):
    _, _, body = server.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def test_restart_warm_cache(model, tmp):
    """--kv-dir across a restart: a request's state is saved by the engine's store thread; SIGTERM
    runs the saves still queued; a new server over the same directory serves a prompt that extends
    the saved one from disk. The first request samples one id, so its saved state is exactly its
    prompt (the last sampled id is never fed) and the extension, raw ids through /v1/completions,
    must report all of it cached. Then the same extension again is a memory hit."""
    kv_dir = os.path.join(tmp, "kv")
    hf = real_vocab.hf_tokenizer()
    ids = hf.encode("Victoria Harbour ferries run all night, and the Star Ferry", add_special_tokens=False).ids
    with serve_harness.Server(CLAWNET, model, "--kv-dir", kv_dir, "--ctx", "512") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=300)
        first = client.completions.create(model="m", prompt=ids, max_tokens=1, seed=3)
        check(first.usage.completion_tokens == 1 and first.usage.prompt_tokens_details.cached_tokens == 0,
              f"the first request: {first.usage}")
    check(server.returncode == 0, f"the first server stopped cleanly: {server.returncode}")
    extended = ids + hf.encode(" crosses to Kowloon and back", add_special_tokens=False).ids
    with serve_harness.Server(CLAWNET, model, "--kv-dir", kv_dir, "--ctx", "512") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=300)
        second = client.completions.create(model="m", prompt=extended, max_tokens=4, seed=4)
        cached = second.usage.prompt_tokens_details.cached_tokens
        print(f"   restart: saved prompt {len(ids)}, extension of {len(extended)}, cached {cached} from disk",
              file=sys.stderr)
        check(cached == len(ids), f"after a restart the extension resumes from disk: cached {cached}, want {len(ids)}")
        check(metric(server, 'clawnet_prefix_cache_lookups_total{result="disk_hit"}') == 1, "one disk hit")
        again = client.completions.create(model="m", prompt=extended, max_tokens=4, seed=4)
        check(again.choices[0].text == second.choices[0].text, "the same prompt and seed, from memory, the same text")
        check(again.usage.prompt_tokens_details.cached_tokens >= len(extended) - 1, f"then from memory: {again.usage}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = serve_harness.make_model(tmp)
        # f32 KV rows: the token budgets of the forced-call and JSON checks were set on the random
        # model's exact trajectories (the default fp8 server is what the Anthropic and agent tests run).
        with serve_harness.Server(CLAWNET, model, "--parallel", "4", "--ctx", "2048", "--kv-type", "f32") as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=300)
            for test in (test_plain_and_stream, test_length_and_seed, test_reasoning, test_stop_strings, test_logprobs,
                         test_follow_up_cached, test_concurrent, test_completions, test_forced_tool_call,
                         test_response_format, test_errors):
                print("--", test.__name__, file=sys.stderr)
                test(client)
            test_client_gone(server, client)
        test_restart_warm_cache(model, tmp)
    if failures:
        print(f"test_serve_openai: {len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("test_serve_openai: ok")


if __name__ == "__main__":
    main()
