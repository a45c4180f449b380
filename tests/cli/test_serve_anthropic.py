"""The Anthropic Messages endpoint of `clawnet serve`, driven by the official `anthropic` SDK (PyPI)
on a random checkpoint with DeepSeek-V4's real vocabulary (serve_harness): plain and streamed
messages (the SDK's `messages.stream(...)` helper must accept the event sequence, and its final
message equals the non-streamed one for the same seed), the raw event order, thinking blocks,
stop sequences (checked against the reply without them), max_tokens, a tool-use round trip
(tool_use / tool_result accepted, the id kept; prefix reuse on the follow-up), count_tokens, and
errors through the SDK's exception types.

The model is random, so its text is noise: the oracles are the API's invariants and the server's
own replies to the same seed (`seed` is this server's extension), never text the test expects
the model to write."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_harness  # noqa: E402

import anthropic  # noqa: E402

CLAWNET = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


USER = [{"role": "user", "content": "Tell me about the harbour in Hong Kong."}]


def create(client, **kw):
    kw.setdefault("model", "m")
    kw.setdefault("messages", USER)
    kw.setdefault("max_tokens", 24)
    seed = kw.pop("seed", 7)
    extra = kw.pop("extra_body", {})
    return client.messages.create(extra_body={"seed": seed, **extra}, **kw)


def stream(client, **kw):
    """The SDK's stream helper: (final message, raw events, joined text, joined thinking)."""
    kw.setdefault("model", "m")
    kw.setdefault("messages", USER)
    kw.setdefault("max_tokens", 24)
    seed = kw.pop("seed", 7)
    extra = kw.pop("extra_body", {})
    events, text = [], ""
    with client.messages.stream(extra_body={"seed": seed, **extra}, **kw) as s:
        for event in s:
            events.append(event)
        text = "".join(e.text for e in events if e.type == "text")
        final = s.get_final_message()
    return final, events, text


def dump(content):
    """Content blocks as plain dicts (the stream helper's Parsed* blocks carry extra fields)."""
    return [{k: v for k, v in b.model_dump().items() if k not in ("parsed_output", "citations")} for b in content]


def blocks(message, kind):
    return [b for b in message.content if b.type == kind]


def check_event_order(events, message, what):
    """message_start, then per block start / deltas / stop with increasing indexes, then
    message_delta and message_stop (the Streaming Messages reference)."""
    raw = [e.type for e in events if e.type in ("message_start", "content_block_start", "content_block_delta",
                                                "content_block_stop", "message_delta", "message_stop")]
    check(raw[:1] == ["message_start"] and raw[-2:] == ["message_delta", "message_stop"], f"{what}: ends {raw[:1]} {raw[-2:]}")
    index, open_block = -1, False
    for e in events:
        if e.type == "content_block_start":
            check(not open_block and e.index == index + 1, f"{what}: block {e.index} starts after {index}")
            index, open_block = e.index, True
        elif e.type == "content_block_delta":
            check(open_block and e.index == index, f"{what}: delta for block {e.index} while {index} is open")
        elif e.type == "content_block_stop":
            check(open_block and e.index == index, f"{what}: stop for {e.index}")
            open_block = False
    check(not open_block and index + 1 == len(message.content), f"{what}: {index + 1} blocks, message has {len(message.content)}")


def test_plain_and_stream(client):
    m = create(client)
    check(m.type == "message" and m.role == "assistant" and m.id.startswith("msg_"), f"message shape {m.type} {m.role} {m.id}")
    check(m.stop_reason in ("end_turn", "max_tokens") and m.stop_sequence is None, f"stop {m.stop_reason} {m.stop_sequence}")
    check(not blocks(m, "thinking"), "no thinking without thinking enabled")
    u = m.usage
    check(u.input_tokens > 0 and 0 < u.output_tokens <= 24, f"usage {u}")
    check(u.cache_read_input_tokens is not None and u.cache_read_input_tokens >= 0, f"cache_read_input_tokens {u}")
    if m.stop_reason == "max_tokens":
        check(u.output_tokens == 24, f"max_tokens after {u.output_tokens}")
    text = "".join(b.text for b in blocks(m, "text"))

    final, events, streamed = stream(client)
    check(dump(final.content) == dump(m.content), f"streamed final message {final.content} != {m.content}")
    check(streamed == text, f"streamed text {streamed!r} != {text!r}")
    check(final.stop_reason == m.stop_reason and final.usage.output_tokens == u.output_tokens, f"streamed stop/usage {final}")
    # The same prompt again is a prefix-cache hit: Anthropic counts cache reads apart from input_tokens.
    total = final.usage.input_tokens + final.usage.cache_read_input_tokens
    check(total == u.input_tokens + u.cache_read_input_tokens, f"prompt size {total}")
    check(final.usage.cache_read_input_tokens >= total - 1, f"repeat cached {final.usage.cache_read_input_tokens} of {total}")
    check_event_order(events, final, "plain stream")
    check(events[0].type == "message_start" and events[0].message.id.startswith("msg_") and events[0].message.content == [],
          "message_start carries an empty message")


def test_system_and_blocks(client):
    # A system prompt as text blocks and user content as blocks is the same prompt as the strings.
    a = create(client, system="Be brief.\n\nAnswer in English.", messages=[{"role": "user", "content": "Hello there"}])
    b = create(client, system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Answer in English."}],
               messages=[{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}])
    check(a.content == b.content, "text blocks render as the strings")
    check(a.usage.input_tokens + a.usage.cache_read_input_tokens == b.usage.input_tokens + b.usage.cache_read_input_tokens,
          "same prompt size")
    n = client.messages.count_tokens(model="m", system="Be brief.\n\nAnswer in English.",
                                     messages=[{"role": "user", "content": "Hello there"}])
    check(n.input_tokens == a.usage.input_tokens + a.usage.cache_read_input_tokens, f"count_tokens {n.input_tokens}")


def test_thinking(client):
    kw = dict(max_tokens=20, seed=5, thinking={"type": "enabled", "budget_tokens": 1024})
    m = create(client, **kw)
    thinking = blocks(m, "thinking")
    # The prompt ended with <think>: the random model's text is thinking until it samples </think>.
    check(len(thinking) == 1 and thinking[0].thinking, f"thinking block: {m.content}")
    check(m.content[0].type == "thinking", "thinking comes first")
    check(all(len(t.signature) == 64 for t in thinking), "a signature on each thinking block")
    final, events, _ = stream(client, **kw)
    check(dump(final.content) == dump(m.content), f"streamed thinking message {final.content} != {m.content}")
    check(any(e.type == "thinking" for e in events), "thinking deltas streamed")
    check(any(getattr(e, "type", "") == "signature" for e in events), "a signature_delta streamed")
    check_event_order(events, final, "thinking stream")
    # The reply sent back as history (thinking included) is accepted.
    follow = create(client, max_tokens=4, seed=6, thinking={"type": "enabled", "budget_tokens": 1024},
                    messages=USER + [{"role": "assistant", "content": [b.model_dump() for b in m.content] or "x"},
                                     {"role": "user", "content": "Go on."}])
    check(follow.stop_reason in ("end_turn", "max_tokens"), f"follow-up with thinking history: {follow.stop_reason}")
    off = create(client, max_tokens=6, thinking={"type": "disabled"})
    check(not blocks(off, "thinking"), "thinking disabled")


def test_stop_sequences(client):
    base = create(client, max_tokens=40, seed=21)
    text = "".join(b.text for b in blocks(base, "text"))
    check(len(text) >= 12, f"a reply long enough to cut: {text!r}")
    if len(text) < 12:
        return
    start = len(text) // 2
    stop = text[start:start + 3]
    want = text[:text.index(stop)]
    m = create(client, max_tokens=40, seed=21, stop_sequences=[stop, "\u2603never"])
    got = "".join(b.text for b in blocks(m, "text"))
    check(got == want, f"stop {stop!r}: {got!r} != {want!r}")
    check(m.stop_reason == "stop_sequence" and m.stop_sequence == stop, f"stop_reason {m.stop_reason} {m.stop_sequence!r}")
    final, _, streamed = stream(client, max_tokens=40, seed=21, stop_sequences=[stop])
    check(streamed == want and final.stop_reason == "stop_sequence" and final.stop_sequence == stop,
          f"streamed stop: {streamed!r} {final.stop_reason} {final.stop_sequence!r}")
    m = create(client, max_tokens=40, seed=21, stop_sequences=["\u2603never"])
    check("".join(b.text for b in blocks(m, "text")) == text and m.stop_sequence is None, "an absent stop sequence changes nothing")


def test_sampling(client):
    # temperature 0 is greedy: the seed no longer matters; at temperature 1 it does.
    g1 = create(client, max_tokens=8, seed=1, extra_body={"temperature": 0})
    g2 = create(client, max_tokens=8, seed=2, extra_body={"temperature": 0, "top_k": 5})
    check(dump(g1.content) == dump(g2.content), "temperature 0: the same reply for any seed")
    others = {str(dump(create(client, max_tokens=8, seed=s).content)) for s in (1, 2, 3)}
    check(len(others) > 1, "different seeds give different replies at temperature 1")


def test_max_tokens(client):
    m = create(client, max_tokens=3, seed=11)
    check(m.stop_reason == "max_tokens" and m.usage.output_tokens == 3, f"max_tokens 3: {m.stop_reason} {m.usage}")
    final, _, _ = stream(client, max_tokens=3, seed=11)
    check(final.stop_reason == "max_tokens" and final.usage.output_tokens == 3, f"streamed max_tokens: {final.stop_reason}")


WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
FORECAST = {"name": "get_forecast", "description": "The forecast for the next days",
            "input_schema": {"type": "object", "properties": {"days": {"type": "integer"}, "metric": {"type": "boolean"}},
                             "required": ["days"], "additionalProperties": False}}


def test_tool_round_trip(client):
    """tool_use in the history (ids kept exactly, input as an object) and tool_result blocks
    (string and text blocks, is_error) are accepted and rendered: the follow-up reuses the prefix
    of the first turn. A call made by the model needs tool_choice any (constrained decoding)."""
    first = create(client, max_tokens=8, seed=41, tools=[WEATHER])
    check(first.stop_reason in ("end_turn", "max_tokens", "tool_use"), f"tools auto: {first.stop_reason}")
    history = USER + [
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Hong Kong"}},
                                          {"type": "tool_use", "id": "call_B2", "name": "get_weather", "input": {"city": "Macau"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_B2", "content": "27C"},
                                     {"type": "tool_result", "tool_use_id": "toolu_01A", "is_error": True,
                                      "content": [{"type": "text", "text": "timeout"}]}]}]
    second = create(client, max_tokens=6, seed=42, tools=[WEATHER], messages=history)
    check(second.stop_reason in ("end_turn", "max_tokens", "tool_use"), f"tool history: {second.stop_reason}")
    third = create(client, max_tokens=4, seed=43, tools=[WEATHER],
                   messages=history + [{"role": "assistant", "content": [b.model_dump() for b in second.content] or "ok"},
                                       {"role": "user", "content": "Thanks."}])
    size2 = second.usage.input_tokens + second.usage.cache_read_input_tokens
    check(third.usage.cache_read_input_tokens >= size2, f"follow-up reuses the tool turn: {third.usage} vs {size2}")
    # tool_choice any: a call forced by constrained decoding. Its parameters are an integer and a
    # boolean: free-text values are allowed too, but a random model rarely closes one within a
    # short limit.
    forced = create(client, max_tokens=600, seed=44, tools=[FORECAST], tool_choice={"type": "any"})
    calls = blocks(forced, "tool_use")
    check(forced.stop_reason == "tool_use" and calls and calls[0].name == "get_forecast", f"forced call: {forced}")
    args = calls[0].input
    check(isinstance(args, dict) and isinstance(args.get("days"), int) and not isinstance(args.get("days"), bool)
          and set(args) <= {"days", "metric"} and ("metric" not in args or isinstance(args["metric"], bool)),
          f"forced call arguments fit the schema: {args}")
    back = create(client, max_tokens=4, seed=45, tools=[FORECAST],
                  messages=USER + [{"role": "assistant", "content": [b.model_dump() for b in forced.content]},
                                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": calls[0].id,
                                                                 "content": "27C"},
                                                                {"type": "text", "text": "And next week?"}]}])
    # The call's DSML bytes (by tool_use id) are rendered as the ids the model sampled (the reply
    # registry), so the earlier prompt and the whole reply are reused but its last id (the
    # end-of-sentence, sampled and never fed).
    size = forced.usage.input_tokens + forced.usage.cache_read_input_tokens
    whole = size + forced.usage.output_tokens - 1
    print(f"tool_choice any: prompt {size} + reply {forced.usage.output_tokens}, follow-up cached "
          f"{back.usage.cache_read_input_tokens} of {back.usage.input_tokens + back.usage.cache_read_input_tokens}",
          file=sys.stderr)
    check(back.usage.cache_read_input_tokens >= whole, f"the forced call's prompt and reply are reused: {back.usage} vs {whole}")
    print("tool_choice any: a forced call round-tripped", file=sys.stderr)


def test_errors(client, server):
    def expect(exc_type, status, words, **kw):
        try:
            create(client, **kw)
            check(False, f"{kw} was accepted")
        except exc_type as e:
            check(e.status_code == status, f"{kw}: status {e.status_code}")
            body = e.body if isinstance(e.body, dict) else {}
            check(body.get("type") == "error" and body.get("error", {}).get("type") == "invalid_request_error",
                  f"{kw}: error body {e.body}")
            check(words in str(e), f"{kw}: {words!r} not in {e}")
        except Exception as e:  # noqa: BLE001
            check(False, f"{kw}: {e!r}")

    # temperature, top_p and top_k are no longer parameters of this SDK's create(): sent as extra fields.
    expect(anthropic.BadRequestError, 400, "temperature", extra_body={"temperature": 1.5})
    expect(anthropic.BadRequestError, 400, "top_k", extra_body={"top_k": -1})
    expect(anthropic.BadRequestError, 400, "non-empty", messages=[])
    expect(anthropic.BadRequestError, 400, "not supported",
           messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                                 "data": "iVBORw0KGgo="}}]}])
    expect(anthropic.BadRequestError, 400, "not in tools", tools=[WEATHER], tool_choice={"type": "tool", "name": "nope"})
    expect(anthropic.BadRequestError, 400, "prefilled", messages=USER + [{"role": "assistant", "content": "Sure"}])
    # max_tokens is required by the API: the SDK requires it too, so send the body by hand.
    status, _, body = server.request("POST", "/v1/messages", {"model": "m", "messages": USER})
    check(status == 400 and b"max_tokens" in body and b"invalid_request_error" in body, f"no max_tokens: {status} {body!r}")
    # A prompt longer than the context: a 400 before any stream byte.
    try:
        with client.messages.stream(model="m", max_tokens=4, messages=[{"role": "user", "content": "word " * 5000}]) as s:
            s.get_final_message()
        check(False, "a prompt longer than the context was accepted")
    except anthropic.BadRequestError as e:
        check("context" in str(e) or "ctx" in str(e), f"context message: {e}")
    try:
        client.messages.batches.retrieve("msgbatch_none")  # GET /v1/messages/batches/..., not served
        check(False, "an unknown /v1/messages route answered")
    except anthropic.NotFoundError as e:
        check(e.body.get("error", {}).get("type") == "not_found_error", f"404 body {e.body}")
    except Exception as e:  # noqa: BLE001
        check(False, f"404: {e!r}")


def test_auth(binary, model):
    with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
        f.write("s3cret\n")
        key_file = f.name
    try:
        with serve_harness.Server(binary, model, "--api-key-file", key_file, "--ctx", "512") as server:
            bad = anthropic.Anthropic(base_url=server.url, api_key="wrong", max_retries=0, timeout=120)
            try:
                bad.messages.create(model="m", max_tokens=2, messages=USER)
                check(False, "a wrong key was accepted")
            except anthropic.AuthenticationError as e:
                check(e.status_code == 401 and e.body.get("error", {}).get("type") == "authentication_error", f"401 {e.body}")
            good = anthropic.Anthropic(base_url=server.url, api_key="s3cret", max_retries=0, timeout=120)
            m = good.messages.create(model="m", max_tokens=2, messages=USER)
            check(m.usage.output_tokens > 0, "the right key (x-api-key) is accepted")
    finally:
        os.unlink(key_file)


def test_overloaded(binary, model):
    """A full queue is 529 overloaded_error (the SDK's OverloadedError): one slot, no queue, a long
    streamed request holding the slot while a second one arrives."""
    with serve_harness.Server(binary, model, "--parallel", "1", "--queue", "0", "--ctx", "4096") as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0, timeout=300)
        with client.messages.stream(model="m", max_tokens=3000, messages=USER, extra_body={"seed": 1}) as s:
            next(iter(s))  # the first event: the request holds the only slot
            try:
                client.messages.create(model="m", max_tokens=2, messages=USER)
                check(False, "a request beyond the queue was accepted")
            except anthropic.APIStatusError as e:
                check(e.status_code == 529 and isinstance(e, anthropic.OverloadedError), f"full queue: {e.status_code} {type(e)}")
                check(e.body.get("error", {}).get("type") == "overloaded_error", f"529 body {e.body}")
            s.close()


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = serve_harness.make_model(tmp)
        with serve_harness.Server(CLAWNET, model, "--parallel", "4", "--ctx", "2048") as server:
            # The SDK appends /v1/messages to the base URL itself.
            client = anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0, timeout=300)
            for test in (test_plain_and_stream, test_system_and_blocks, test_thinking, test_stop_sequences, test_sampling, test_max_tokens,
                         test_tool_round_trip):
                print("--", test.__name__, file=sys.stderr)
                test(client)
            test_errors(client, server)
        test_auth(CLAWNET, model)
        test_overloaded(CLAWNET, model)
    if failures:
        print(f"test_serve_anthropic: {len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("test_serve_anthropic: ok")


if __name__ == "__main__":
    main()
