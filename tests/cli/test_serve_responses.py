"""The OpenAI Responses endpoint of `clawnet serve` (for Codex-style clients), driven by the
official `openai` SDK (PyPI) on a random checkpoint with DeepSeek-V4's real vocabulary
(serve_harness): plain and streamed responses (`responses.stream(...)` and `create(stream=True)`
must accept the event sequence; the final response equals the non-streamed one for the same
seed), reasoning items and reasoning_tokens, max_output_tokens -> incomplete, an item-list
history with function_call / function_call_output / reasoning items (prefix reuse on the
follow-up), tool_choice required, and errors through the SDK's exception types.

The model is random, so its text is noise: the oracles are the API's invariants and the server's
own replies to the same seed (`seed` is this server's extension), never text the test expects
the model to write."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_harness  # noqa: E402

import openai  # noqa: E402

CLAWNET = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


INPUT = "Tell me about the harbour in Hong Kong."


def create(client, **kw):
    kw.setdefault("model", "m")
    kw.setdefault("input", INPUT)
    kw.setdefault("max_output_tokens", 24)
    seed = kw.pop("seed", 7)
    extra = kw.pop("extra_body", {})
    return client.responses.create(extra_body={"seed": seed, **extra}, **kw)


def stream(client, **kw):
    """The SDK's stream helper: (final response, events)."""
    kw.setdefault("model", "m")
    kw.setdefault("input", INPUT)
    kw.setdefault("max_output_tokens", 24)
    seed = kw.pop("seed", 7)
    extra = kw.pop("extra_body", {})
    with client.responses.stream(extra_body={"seed": seed, **extra}, **kw) as s:
        events = list(s)
        final = s.get_final_response()
    return final, events


def items(response, kind):
    return [o for o in response.output if o.type == kind]


def dump(output):
    """Output items without their ids (fresh per response)."""
    return [{k: v for k, v in o.model_dump(exclude_none=True).items() if k not in ("id", "parsed")} for o in output]


def check_events(events, final, what):
    types = [e.type for e in events]
    check(types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed", f"{what}: {types[:2]} ... {types[-1:]}")
    check([e.sequence_number for e in events] == list(range(len(events))), f"{what}: sequence numbers")
    added = [e.output_index for e in events if e.type == "response.output_item.added"]
    done = [e.output_index for e in events if e.type == "response.output_item.done"]
    check(added == done == list(range(len(final.output))), f"{what}: items added {added}, done {done}, {len(final.output)} in the response")


def test_plain_and_stream(client):
    r = create(client)
    check(r.object == "response" and r.id.startswith("resp_") and r.status in ("completed", "incomplete"), f"response {r.id} {r.status}")
    messages = items(r, "message")
    check(len(messages) == 1 and messages[0].role == "assistant" and messages[0].content[0].type == "output_text",
          f"one message item: {r.output}")
    check(r.output_text == messages[0].content[0].text, "output_text joins the message text")
    check(not items(r, "reasoning"), "no reasoning item without reasoning")
    u = r.usage
    check(u.input_tokens > 0 and 0 < u.output_tokens <= 24 and u.total_tokens == u.input_tokens + u.output_tokens, f"usage {u}")
    check(u.output_tokens_details.reasoning_tokens == 0 and u.input_tokens_details.cached_tokens >= 0, f"usage details {u}")
    if r.status == "incomplete":
        check(r.incomplete_details.reason == "max_output_tokens" and u.output_tokens == 24, f"incomplete {r.incomplete_details}")
    # The random model seldom ends by itself; a stop string (this server's extension, as in Chat
    # Completions) from the middle of the reply ends it "completed", which the SDK's stream helper
    # needs (get_final_response wants response.completed).
    text = r.output_text
    check(len(text) >= 12, f"a reply long enough to cut: {text!r}")
    if len(text) < 12:
        return
    stop = text[len(text) // 2:len(text) // 2 + 3]
    want = text[:text.index(stop)]
    whole = create(client, extra_body={"stop": [stop]})
    check(whole.status == "completed" and whole.output_text == want, f"stop: {whole.status} {whole.output_text!r} != {want!r}")
    final, events = stream(client, extra_body={"stop": [stop]})
    check(dump(final.output) == dump(whole.output), f"streamed output {final.output} != {whole.output}")
    # (output_tokens may differ by a step: a stop string cancels the engine while it decodes on.)
    check(final.status == "completed" and final.usage.output_tokens > 0, f"streamed status {final.status} {final.usage}")
    check(final.usage.input_tokens_details.cached_tokens >= u.input_tokens - 1, f"repeat cached {final.usage}")
    check("".join(e.delta for e in events if e.type == "response.output_text.delta") == want, "text deltas join")
    check_events(events, final, "plain stream")
    raw = list(create(client, stream=True, extra_body={"stop": [stop]}))
    check([e.type for e in raw] == [e.type for e in events], "create(stream=True) sends the same event types")


def test_reasoning(client):
    kw = dict(max_output_tokens=20, seed=5, reasoning={"effort": "high"})
    r = create(client, **kw)
    reasoning = items(r, "reasoning")
    # The prompt ended with <think>: the random model's text is reasoning until it samples </think>.
    check(len(reasoning) == 1 and reasoning[0].content and reasoning[0].content[0].type == "reasoning_text"
          and reasoning[0].content[0].text, f"a reasoning item: {r.output}")
    check(r.output[0].type == "reasoning", "reasoning comes first")
    rt = r.usage.output_tokens_details.reasoning_tokens
    check(0 < rt <= r.usage.output_tokens, f"reasoning_tokens {rt} of {r.usage.output_tokens}")
    if not items(r, "message"):
        check(rt == r.usage.output_tokens, "all tokens are reasoning when no answer came")
    if r.status == "completed":
        final, events = stream(client, **kw)
        check(dump(final.output) == dump(r.output), "streamed reasoning response")
        joined = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
        check(reasoning and joined == reasoning[0].content[0].text, "reasoning deltas join")
    else:
        raw = list(create(client, stream=True, **kw))
        check(raw[-1].type == "response.incomplete", f"a cut reply ends with response.incomplete: {raw[-1].type}")
        joined = "".join(e.delta for e in raw if e.type == "response.reasoning_text.delta")
        check(reasoning and joined == reasoning[0].content[0].text, "reasoning deltas join")
    none = create(client, max_output_tokens=6, reasoning={"effort": "none"})
    check(not items(none, "reasoning"), "effort none does not reason")


def test_max_output_tokens(client):
    r = create(client, max_output_tokens=3, seed=11)
    check(r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens" and r.usage.output_tokens == 3,
          f"max_output_tokens 3: {r.status} {r.incomplete_details} {r.usage}")
    raw = list(create(client, max_output_tokens=3, seed=11, stream=True))
    check(raw[-1].type == "response.incomplete" and raw[-1].response.status == "incomplete", f"stream ends {raw[-1].type}")
    check(dump(raw[-1].response.output) == dump(r.output), "the incomplete stream's response equals the whole one")


TOOLS = [{"type": "function", "name": "shell", "description": "Runs a command",
          "parameters": {"type": "object", "properties": {"cmd": {"type": "array", "items": {"type": "string"}}}, "required": ["cmd"]}}]


def test_items_round_trip(client):
    """A Codex-style history: the first response's output items sent back as input with
    function_call and function_call_output items; the follow-up reuses the first turn's prefix."""
    first = create(client, max_output_tokens=10, seed=31, tools=TOOLS, reasoning={"effort": "low"})
    history = [{"role": "user", "content": [{"type": "input_text", "text": INPUT}]}]
    history += [o.model_dump(exclude_none=True) for o in first.output]
    history += [{"type": "function_call", "call_id": "call_local1", "name": "shell", "arguments": "{\"cmd\": [\"ls\"]}"},
                {"type": "function_call_output", "call_id": "call_local1", "output": "a.c b.c"}]
    second = create(client, input=history, max_output_tokens=4, seed=32, tools=TOOLS, reasoning={"effort": "low"},
                    instructions=None)
    check(second.status in ("completed", "incomplete"), f"item history accepted: {second.status}")
    size1 = first.usage.input_tokens
    check(second.usage.input_tokens_details.cached_tokens >= size1,
          f"the follow-up reuses the first prompt: cached {second.usage.input_tokens_details.cached_tokens} < {size1}")
    try:
        forced = create(client, max_output_tokens=60, seed=33, tools=TOOLS, tool_choice="required")
        calls = items(forced, "function_call")
        check(calls and calls[0].name == "shell" and calls[0].call_id.startswith("call_"), f"forced call {forced.output}")
        print("tool_choice required: a forced call", file=sys.stderr)
    except openai.BadRequestError as e:
        check("constrained decoding" in str(e), f"tool_choice required refused with {e}")
        print("tool_choice required: refused (no constrained decoding in this server yet)", file=sys.stderr)


def test_errors(client):
    def expect(param, words, **kw):
        try:
            create(client, **kw)
            check(False, f"{kw} was accepted")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and e.param == param and e.type == "invalid_request_error", f"{kw}: {e.status_code} {e.param} {e.type}")
            check(words in str(e), f"{kw}: {words!r} not in {e}")
        except Exception as e:  # noqa: BLE001
            check(False, f"{kw}: {e!r}")

    expect("store", "keeps no responses", store=True)
    expect("previous_response_id", "not supported", previous_response_id="resp_123")
    expect("input", "not supported", input=[{"role": "user", "content": [{"type": "input_image", "image_url": "http://x/y.png"}]}])
    expect("tools", "function tools only", tools=[{"type": "web_search"}])
    expect("temperature", "temperature", temperature=5)
    expect("reasoning.effort", "reasoning.effort", extra_body={"reasoning": {"effort": "huge"}})
    expect("tool_choice", "not in tools", tools=TOOLS, tool_choice={"type": "function", "name": "nope"})
    try:
        create(client, input="word " * 5000, stream=True)
        check(False, "a prompt longer than the context was accepted")
    except openai.BadRequestError as e:
        check("context" in str(e) or "ctx" in str(e), f"context message: {e}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        model = serve_harness.make_model(tmp)
        # f32 KV rows: the token budgets of the forced-call and JSON checks were set on the random
        # model's exact trajectories (the default fp8 server is what the Anthropic and agent tests run).
        with serve_harness.Server(CLAWNET, model, "--parallel", "4", "--ctx", "2048", "--kv-type", "f32") as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0, timeout=300)
            for test in (test_plain_and_stream, test_reasoning, test_max_output_tokens, test_items_round_trip, test_errors):
                print("--", test.__name__, file=sys.stderr)
                test(client)
    if failures:
        print(f"test_serve_responses: {len(failures)} failure(s)", file=sys.stderr)
        sys.exit(1)
    print("test_serve_responses: ok")


if __name__ == "__main__":
    main()
