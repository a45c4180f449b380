#!/usr/bin/env python3
"""Golden chat-encoding fixtures from DeepSeek's V4 reference encoder.

The reference is `vllm/tokenizers/deepseek_v4_encoding.py` from vLLM's PyPI wheel. It is loaded alone
(it imports only json, copy and typing) from a path given on the command line, never copied into the tree:

    unzip -j vllm-*.whl vllm/tokenizers/deepseek_v4_encoding.py -d /tmp/dsv4
    python scripts/make_chat_fixtures.py --encoder /tmp/dsv4/deepseek_v4_encoding.py \
        --vllm-version 0.33.0 --out tests/fixtures/chat

Each case is the C API's input (OpenAI-style messages + options) and either the reference's rendered string
or, for invalid input, what the reference did with it (the C encoder must return an error value for all of
those). The options are mapped onto `encode_messages` the way vLLM's DeepSeek-V4 tokenizer wrapper does it:
request tools attach to the first system message (one is synthesised at index 0 when none exists), and
`reasoning_content` is accepted as the name of `reasoning`. `add_generation_prompt: false` drops the
`<｜Assistant｜>` + think marker the reference always appends after a final user/developer/system turn.

Writes cases.json (ASCII-only JSON, one object per case) and manifest.json (encoder version and hash).
"""
import argparse
import copy
import hashlib
import importlib.util
import json
import os
import random

ASSISTANT = "<｜Assistant｜>"


def load_encoder(path):
    spec = importlib.util.spec_from_file_location("dsv4_encoding", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_messages(messages, options):
    """What vLLM hands to encode_messages for these messages and options."""
    messages = copy.deepcopy(messages)
    for m in messages:
        if isinstance(m, dict) and "reasoning" not in m and "reasoning_content" in m:
            m["reasoning"] = m["reasoning_content"]
    tools = options.get("tools")
    if tools:
        idx = next((i for i, m in enumerate(messages) if m.get("role") == "system"), None)
        if idx is None:
            messages.insert(0, {"role": "system"})
            idx = 0
        messages[idx]["tools"] = tools
    return messages


def render(enc, messages, options):
    msgs = reference_messages(messages, options)
    out = enc.encode_messages(
        msgs,
        thinking_mode="thinking" if options.get("thinking") else "chat",
        drop_thinking=options.get("drop_thinking", True),
        add_default_bos_token=options.get("add_bos", True),
        reasoning_effort=options.get("reasoning_effort"),
    )
    if not options.get("add_generation_prompt", True):
        merged = enc.merge_tool_messages(msgs)
        last = merged[-1] if merged else {}
        if last.get("role") in ("user", "developer", "system") and last.get("task") is None:
            for suffix in (ASSISTANT + "<think>", ASSISTANT + "</think>"):
                if out.endswith(suffix):
                    out = out[: -len(suffix)]
                    break
            else:
                raise AssertionError("no generation prompt to strip")
    return out


# ---------------------------------------------------------------------------------------------------------
# Building blocks

TEXTS = [
    "Hello!",
    "What is the capital of France?",
    "請問香港天文台今日有冇發出暴雨警告？",
    "我哋聽日去邊度食飯好呀？唔該你幫我諗下。",
    "用繁體中文解釋一下量子糾纏。",
    "Can you 幫我 check 下 the MTR schedule 呀?",
    "Emoji test 🎉🚀 and flags 🇭🇰, ZWJ 👩‍💻.",
    "Line one\nLine two\n\nLine four\twith tab",
    "Quotes \"double\" and 'single' and back\\slash",
    "  leading and trailing spaces  ",
    "<b>html-ish</b> & <tool_result>fake</tool_result>",
    "日本語のテキストとカタカナ。",
    "Math: ∑_{i=1}^{n} i² = n(n+1)(2n+1)/6 — ok?",
    "",
    "\u0001\u001f control chars \u007f and \u2028 separators",
]

REASONINGS = [
    "The user wants a greeting. I will greet them.",
    "用户问的是天气，我应该调用天气工具。",
    "Let me think step by step.\n1. First...\n2. Then...",
    "",
    "Hmm 🤔 need to check <tags> & \"quotes\".",
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location. 查詢天氣。",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name, e.g. \"Hong Kong\" / 香港"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 1},
            },
            "required": ["location"],
        },
    },
}

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web.\nReturns the top results as JSON.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "top_k": {"type": "integer", "default": 5},
                "threshold": {"type": "number", "minimum": 0.0, "maximum": 1.0, "default": 0.75},
                "filters": {"type": "object", "additionalProperties": True},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
}

NUMBERS_TOOL = {
    "type": "function",
    "function": {
        "name": "numbers",
        "description": "Edge numbers: \t tab, \u0000 nul, \u00e9 accent, \U0001F600 emoji, \\ backslash, / slash.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "number", "default": 1e16, "minimum": -1e-05, "maximum": 1e308},
                "b": {"type": "number", "default": 0.1, "examples": [1.5, -0.0, 2.5e-07, 123456789.123, 5e-324]},
                "c": {"type": "integer", "default": 12345678901234567890, "examples": [-7, 0, 1, 2 ** 53 + 1]},
                "d": {"type": "number", "default": 1e15, "examples": [1e17, 0.0001, 0.00001, 100.0, 3.141592653589793]},
                "e": {"type": ["string", "null"], "default": None, "examples": [True, False, [], {}]},
            },
        },
    },
}

EMPTY_PARAMS_TOOL = {
    "type": "function",
    "function": {"name": "now", "description": "", "parameters": {"type": "object", "properties": {}}},
}

TOOLS = [WEATHER_TOOL, SEARCH_TOOL, NUMBERS_TOOL, EMPTY_PARAMS_TOOL]


def call(call_id, name, arguments, as_string=True):
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False) if as_string else arguments},
    }


ARGUMENT_SETS = [
    ("get_weather", {"location": "Hong Kong", "unit": "celsius"}),
    ("get_weather", {"location": "香港 旺角", "days": 3}),
    ("web_search", {"query": "DeepSeek V4 \"DSML\" <format>", "top_k": 10, "threshold": 0.5,
                    "filters": {"lang": ["zh-HK", "en"], "safe": True, "since": None}}),
    ("web_search", {"query": "line1\nline2\ttab 🎉"}),
    ("numbers", {"a": 1.0, "b": -0.0, "c": 12345678901234567890, "d": 1e-7, "e": "true"}),
    ("numbers", {"a": 3.0e20, "b": [1, 2.5, "x", None, False], "c": {"nested": {"deep": [{}]}}, "e": ""}),
    ("now", {}),
]

RESPONSE_FORMATS = [
    {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {
        "answer": {"type": "string"}, "confidence": {"type": "number", "minimum": 0.0, "maximum": 1.0}}}}},
    {"type": "json_object"},
]


# ---------------------------------------------------------------------------------------------------------
# Hand-written cases: one per feature or edge the encoder distinguishes


def handwritten_cases():
    cases = []

    def add(name, messages, **options):
        cases.append({"name": name, "messages": messages, "options": options})

    for thinking in (False, True):
        t = "think" if thinking else "chat"
        add(f"{t}/single_user", [{"role": "user", "content": "Hi"}], thinking=thinking)
        add(f"{t}/system_user", [{"role": "system", "content": "You are helpful."},
                                 {"role": "user", "content": "Hi"}], thinking=thinking)
        add(f"{t}/multi_turn", [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?", "reasoning_content": "Greet back."},
            {"role": "user", "content": "Tell me a joke."},
        ], thinking=thinking)
        add(f"{t}/multi_turn_last_assistant", [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!", "reasoning_content": "Greet."},
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": "Hello again!", "reasoning_content": "Greet twice."},
        ], thinking=thinking)
        add(f"{t}/keep_reasoning_drop_false", [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!", "reasoning": "Greet."},
            {"role": "user", "content": "Again"},
        ], thinking=thinking, drop_thinking=False)
        add(f"{t}/developer", [
            {"role": "developer", "content": "Answer tersely."},
            {"role": "user", "content": "Hi"},
        ], thinking=thinking)
        add(f"{t}/developer_last", [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "developer", "content": "Now switch to Cantonese."},
        ], thinking=thinking)
        add(f"{t}/developer_tools_response_format", [
            {"role": "developer", "content": "Use tools.", "tools": [WEATHER_TOOL],
             "response_format": RESPONSE_FORMATS[0]},
            {"role": "user", "content": "Weather?"},
        ], thinking=thinking)
        add(f"{t}/latest_reminder", [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "Hi"},
            {"role": "latest_reminder", "content": "Today is 2026-01-01."},
        ], thinking=thinking)
        add(f"{t}/latest_reminder_before_user", [
            {"role": "latest_reminder", "content": "Reminder first."},
            {"role": "user", "content": "Hi"},
        ], thinking=thinking)
        add(f"{t}/assistant_after_latest_reminder", [
            {"role": "user", "content": "Hi"},
            {"role": "latest_reminder", "content": "Be brief."},
            {"role": "assistant", "content": "Hey."},
        ], thinking=thinking)
        add(f"{t}/system_last", [{"role": "system", "content": "Only a system prompt."}], thinking=thinking)
        add(f"{t}/system_then_assistant", [
            {"role": "system", "content": "sys"},
            {"role": "assistant", "content": "I speak first."},
        ], thinking=thinking)
        add(f"{t}/two_systems", [
            {"role": "system", "content": "first"},
            {"role": "system", "content": "second"},
            {"role": "user", "content": "Hi"},
        ], thinking=thinking)
        add(f"{t}/response_format", [
            {"role": "system", "content": "sys", "response_format": RESPONSE_FORMATS[1]},
            {"role": "user", "content": "JSON please"},
        ], thinking=thinking)
        add(f"{t}/wo_eos_prefill", [
            {"role": "user", "content": "Write a poem"},
            {"role": "assistant", "content": "Roses are", "wo_eos": True},
        ], thinking=thinking)
        add(f"{t}/consecutive_users_merge", [
            {"role": "user", "content": "part one"},
            {"role": "user", "content": "part two"},
        ], thinking=thinking)
        add(f"{t}/content_parts", [
            {"role": "system", "content": [{"type": "text", "text": "sys a"}, {"type": "text", "text": "sys b"}]},
            {"role": "user", "content": [{"type": "text", "text": "u1"}, {"type": "text", "text": "u2"}, {"type": "text"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a1"}]},
            {"role": "user", "content": []},
        ], thinking=thinking)
        add(f"{t}/empty_contents", [
            {"role": "system", "content": ""},
            {"role": "user", "content": ""},
            {"role": "assistant", "content": None},
            {"role": "user", "content": ""},
        ], thinking=thinking)
        add(f"{t}/system_without_content", [{"role": "system"}, {"role": "user", "content": "x"}], thinking=thinking)
        add(f"{t}/assistant_without_content", [{"role": "user", "content": "x"}, {"role": "assistant"}],
            thinking=thinking)
        add(f"{t}/assistant_only", [{"role": "assistant", "content": "Lonely", "reasoning": "why"}],
            thinking=thinking)
        add(f"{t}/no_messages", [], thinking=thinking)
        add(f"{t}/no_bos", [{"role": "user", "content": "Hi"}], thinking=thinking, add_bos=False)
        add(f"{t}/no_generation_prompt", [{"role": "user", "content": "Hi"}], thinking=thinking,
            add_generation_prompt=False)
        add(f"{t}/no_generation_prompt_after_assistant", [
            {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
            thinking=thinking, add_generation_prompt=False)
        for task in ("action", "query", "authority", "domain", "title", "read_url"):
            add(f"{t}/task_{task}", [
                {"role": "user", "content": "Classify: open the pod bay doors", "task": task},
            ], thinking=thinking)
            add(f"{t}/task_{task}_answered", [
                {"role": "user", "content": "Classify this", "task": task},
                {"role": "assistant", "content": "label", "reasoning": "ignored"},
                {"role": "user", "content": "next"},
            ], thinking=thinking)
        add(f"{t}/task_on_merged_user_lost", [
            {"role": "user", "content": "first"},
            {"role": "user", "content": "second", "task": "query"},
        ], thinking=thinking)
        add(f"{t}/task_user_then_user", [
            {"role": "user", "content": "first", "task": "query"},
            {"role": "user", "content": "second"},
        ], thinking=thinking)
        add(f"{t}/task_on_system", [{"role": "system", "content": "s", "task": "title"}], thinking=thinking)
        add(f"{t}/task_null", [{"role": "user", "content": "x", "task": None}], thinking=thinking)
        for effort in ("low", "high", "max"):
            add(f"{t}/effort_{effort}", [{"role": "user", "content": "Prove it."}], thinking=thinking,
                reasoning_effort=effort)
            add(f"{t}/effort_{effort}_system", [{"role": "system", "content": "sys"},
                                                {"role": "user", "content": "Prove it."}],
                thinking=thinking, reasoning_effort=effort)

        # Tools
        add(f"{t}/tools_no_system", [{"role": "user", "content": "Weather in HK?"}],
            thinking=thinking, tools=[WEATHER_TOOL])
        add(f"{t}/tools_with_system", [{"role": "system", "content": "You are a bot."},
                                       {"role": "user", "content": "Weather in HK?"}],
            thinking=thinking, tools=[WEATHER_TOOL, SEARCH_TOOL])
        add(f"{t}/tools_second_system", [{"role": "user", "content": "u"}, {"role": "system", "content": "late"},
                                         {"role": "user", "content": "v"}],
            thinking=thinking, tools=[EMPTY_PARAMS_TOOL])
        add(f"{t}/tools_numbers", [{"role": "user", "content": "numbers"}], thinking=thinking, tools=[NUMBERS_TOOL])
        add(f"{t}/tools_empty_list", [{"role": "user", "content": "x"},
                                      {"role": "assistant", "content": "y", "reasoning": "r"},
                                      {"role": "user", "content": "z"}], thinking=thinking, tools=[])
        add(f"{t}/tool_round_trip", [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "Weather in HK and search news"},
            {"role": "assistant", "content": "", "reasoning_content": "Two tools needed.",
             "tool_calls": [call("c1", *ARGUMENT_SETS[0]), call("c2", *ARGUMENT_SETS[2])]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 28}"},
            {"role": "tool", "tool_call_id": "c2", "content": "Top news: 新聞"},
        ], thinking=thinking, tools=[WEATHER_TOOL, SEARCH_TOOL])
        add(f"{t}/tool_results_out_of_order", [
            {"role": "user", "content": "Do three things"},
            {"role": "assistant", "content": "On it.", "reasoning_content": "three calls",
             "tool_calls": [call("a", *ARGUMENT_SETS[0]), call("b", *ARGUMENT_SETS[3]), call("c", *ARGUMENT_SETS[6])]},
            {"role": "tool", "tool_call_id": "c", "content": "result c"},
            {"role": "tool", "tool_call_id": "a", "content": "result a"},
            {"role": "tool", "tool_call_id": "b", "content": "result b"},
            {"role": "assistant", "content": "All done: a, b, c.", "reasoning_content": "summarise"},
            {"role": "user", "content": "Thanks!"},
        ], thinking=thinking, tools=TOOLS)
        add(f"{t}/tool_results_unknown_id", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [call("x1", *ARGUMENT_SETS[0]), call("x2", *ARGUMENT_SETS[1])]},
            {"role": "tool", "tool_call_id": "x2", "content": "two"},
            {"role": "tool", "tool_call_id": "zzz", "content": "unknown"},
            {"role": "tool", "content": "no id"},
            {"role": "tool", "tool_call_id": "x1", "content": "one"},
        ], thinking=thinking, tools=[WEATHER_TOOL])
        add(f"{t}/tool_result_then_user_text", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [call("k1", *ARGUMENT_SETS[4]), call("k2", *ARGUMENT_SETS[5])]},
            {"role": "tool", "tool_call_id": "k2", "content": [{"type": "text", "text": "part1"},
                                                               {"type": "text", "text": "part2"}]},
            {"role": "tool", "tool_call_id": "k1", "content": ""},
            {"role": "user", "content": "and now?"},
        ], thinking=thinking, tools=[NUMBERS_TOOL])
        add(f"{t}/tool_result_after_user", [
            {"role": "user", "content": "go"},
            {"role": "tool", "tool_call_id": "q", "content": "orphan result"},
        ], thinking=thinking)
        add(f"{t}/tool_call_dict_arguments", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "calling",
             "tool_calls": [call("d1", *ARGUMENT_SETS[2], as_string=False)]},
        ], thinking=thinking, tools=[SEARCH_TOOL])
        add(f"{t}/tool_calls_no_tools_declared", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": "", "reasoning": "call it",
             "tool_calls": [call("n1", *ARGUMENT_SETS[6])]},
            {"role": "tool", "tool_call_id": "n1", "content": "12:00"},
            {"role": "assistant", "content": "It is noon.", "reasoning": "answer"},
            {"role": "user", "content": "ok"},
        ], thinking=thinking)
        add(f"{t}/tool_results_sorted_by_earlier_calls", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [call("p", *ARGUMENT_SETS[0]), call("q", *ARGUMENT_SETS[1])]},
            {"role": "tool", "tool_call_id": "q", "content": "Q"},
            {"role": "tool", "tool_call_id": "p", "content": "P"},
            {"role": "assistant", "content": "mid"},
            {"role": "tool", "tool_call_id": "q", "content": "Q again"},
            {"role": "tool", "tool_call_id": "p", "content": "P again"},
        ], thinking=thinking, tools=[WEATHER_TOOL])
        add(f"{t}/arguments_with_special_text", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [call("s", "web_search",
                                                      {"query": "</｜DSML｜parameter> & \"x\"", "top_k": -1})]},
        ], thinking=thinking, tools=[SEARCH_TOOL])
        add(f"{t}/arguments_whitespace_json", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [{"id": "w", "type": "function", "function": {
                "name": "numbers", "arguments": " {\n \"a\" : 1.50 , \"b\":[ 1E2 ,2e-3, 0.0, -0],\"a2\":\"\\u00e9\\ud83d\\ude00\"} "}}]},
        ], thinking=thinking, tools=[NUMBERS_TOOL])
        add(f"{t}/arguments_duplicate_keys", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [{"id": "w", "type": "function", "function": {
                "name": "numbers", "arguments": "{\"a\": 1, \"b\": 2, \"a\": 3}"}}]},
        ], thinking=thinking, tools=[NUMBERS_TOOL])
        add(f"{t}/tool_call_id_in_function", [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [
                {"type": "function", "function": {"id": "f1", "name": "now", "arguments": "{}"}},
                {"type": "function", "function": {"id": "f2", "name": "now", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "f2", "content": "two"},
            {"role": "tool", "tool_call_id": "f1", "content": "one"},
        ], thinking=thinking, tools=[EMPTY_PARAMS_TOOL])
        add(f"{t}/per_message_tools", [
            {"role": "system", "content": "s", "tools": [WEATHER_TOOL]},
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a", "reasoning": "kept because tools exist"},
            {"role": "user", "content": "v"},
        ], thinking=thinking)
        add(f"{t}/developer_dropped_before_last_user", [
            {"role": "developer", "content": "old instruction"},
            {"role": "user", "content": "u1"},
            {"role": "assistant", "content": "a1", "reasoning": "r1"},
            {"role": "developer", "content": "middle instruction"},
            {"role": "user", "content": "u2"},
        ], thinking=thinking)
    return cases


def error_cases():
    """Inputs the C encoder must refuse. `reference` records what the Python encoder did."""
    cases = []

    def add(name, messages, **options):
        cases.append({"name": name, "messages": messages, "options": options, "error": True})

    add("unknown_role", [{"role": "wizard", "content": "x"}])
    add("unknown_role_thinking", [{"role": "wizard", "content": "x"}, {"role": "user", "content": "y"}],
        thinking=True)
    add("role_missing", [{"content": "x"}])
    add("role_not_string", [{"role": 5, "content": "x"}])
    add("message_not_object", ["hello"])
    add("messages_not_array", {"role": "user", "content": "x"})
    add("user_missing_content", [{"role": "user"}])
    add("user_null_content", [{"role": "user", "content": None}])
    add("user_number_content", [{"role": "user", "content": 5}])
    add("tool_missing_content", [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "a"}])
    add("latest_reminder_missing_content", [{"role": "latest_reminder"}])
    add("developer_empty", [{"role": "developer", "content": ""}])
    add("developer_missing", [{"role": "developer"}])
    add("content_part_unknown_type", [{"role": "user", "content": [{"type": "audio", "data": "x"}]}])
    add("content_part_image", [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    add("content_part_text_not_string", [{"role": "user", "content": [{"type": "text", "text": 7}]}])
    add("tool_call_without_name", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"arguments": "{}"}}]}])
    add("tool_call_without_function", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function"}]}])
    add("tool_call_name_not_string", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": 3, "arguments": "{}"}}]}])
    add("tool_call_arguments_invalid_json", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"a\": tru}"}}]}])
    add("tool_call_arguments_trailing_garbage", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{} x"}}]}])
    add("tool_call_arguments_empty_string", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]}])
    add("tool_call_arguments_not_object", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}]}])
    add("tool_call_arguments_missing", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f"}}]}])
    add("tool_call_arguments_lone_surrogate", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"a\": \"\\ud800\"}"}}]}])
    add("tool_calls_not_array", [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": {"a": 1}}])
    add("tools_entry_without_function", [{"role": "user", "content": "x"}], tools=[{"type": "function"}])
    add("invalid_task", [{"role": "user", "content": "x", "task": "summarise"}])
    add("invalid_reasoning_effort", [{"role": "user", "content": "x"}], thinking=True, reasoning_effort="medium")
    add("wo_eos_not_bool", [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "wo_eos": "yes"}])
    add("reasoning_not_string", [{"role": "user", "content": "x"},
                                 {"role": "assistant", "content": "y", "reasoning": {"a": 1}}])
    return cases


# ---------------------------------------------------------------------------------------------------------
# Random conversations: many shapes of the same pieces, reproducible from the seed


def random_conversation(rng, index):
    messages = []
    use_tools = rng.random() < 0.45
    tools = rng.sample(TOOLS, rng.randint(1, len(TOOLS))) if use_tools else None
    if rng.random() < 0.6:
        sys_msg = {"role": "system", "content": rng.choice(TEXTS)}
        if rng.random() < 0.15:
            sys_msg["response_format"] = rng.choice(RESPONSE_FORMATS)
        messages.append(sys_msg)
    if rng.random() < 0.15:
        messages.append({"role": "developer", "content": rng.choice([t for t in TEXTS if t]) })
    turns = rng.randint(1, 4)
    call_counter = 0
    for turn in range(turns):
        if rng.random() < 0.1:
            messages.append({"role": "latest_reminder", "content": rng.choice(TEXTS)})
        content = rng.choice(TEXTS)
        if rng.random() < 0.15:
            content = [{"type": "text", "text": rng.choice(TEXTS)} for _ in range(rng.randint(1, 3))]
        messages.append({"role": "user", "content": content})
        last_turn = turn == turns - 1
        if last_turn and rng.random() < 0.5:
            break
        # assistant, possibly with tool calls and results
        steps = rng.randint(1, 3) if use_tools else 1
        for step in range(steps):
            msg = {"role": "assistant"}
            if rng.random() < 0.8:
                msg["reasoning_content"] = rng.choice(REASONINGS)
            wants_calls = use_tools and step < steps - 1
            msg["content"] = rng.choice(TEXTS) if (not wants_calls or rng.random() < 0.3) else ""
            if wants_calls:
                n = rng.randint(1, 3)
                calls = []
                for _ in range(n):
                    call_counter += 1
                    name, args = rng.choice(ARGUMENT_SETS)
                    calls.append(call(f"call_{index}_{call_counter}", name, args, as_string=rng.random() < 0.85))
                msg["tool_calls"] = calls
                messages.append(msg)
                order = list(range(n))
                if rng.random() < 0.5:
                    rng.shuffle(order)
                for j in order:
                    messages.append({"role": "tool", "tool_call_id": calls[j]["id"],
                                     "content": rng.choice(TEXTS + ["{\"ok\": true, \"value\": 1.0}"])})
            else:
                messages.append(msg)
    options = {"thinking": rng.random() < 0.6}
    if tools:
        options["tools"] = tools
    if options["thinking"] and rng.random() < 0.6:
        options["reasoning_effort"] = rng.choice(["low", "high", "max"])
    if rng.random() < 0.1:
        options["drop_thinking"] = False
    if rng.random() < 0.05:
        options["add_bos"] = False
    if rng.random() < 0.05 and messages[-1]["role"] in ("user", "tool"):
        options["add_generation_prompt"] = False
    return messages, options


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", required=True, help="path to deepseek_v4_encoding.py extracted from the vLLM wheel")
    ap.add_argument("--vllm-version", required=True)
    ap.add_argument("--out", default="tests/fixtures/chat")
    ap.add_argument("--seed", type=int, default=20260401)
    ap.add_argument("--random-cases", type=int, default=240)
    args = ap.parse_args()

    enc = load_encoder(args.encoder)
    with open(args.encoder, "rb") as f:
        encoder_sha256 = hashlib.sha256(f.read()).hexdigest()

    cases = handwritten_cases()
    rng = random.Random(args.seed)
    for i in range(args.random_cases):
        messages, options = random_conversation(rng, i)
        cases.append({"name": f"random/{i:03d}", "messages": messages, "options": options})

    out_cases = []
    for case in cases:
        entry = {"name": case["name"], "messages": case["messages"], "options": case["options"]}
        entry["expected"] = render(enc, case["messages"], case["options"])
        out_cases.append(entry)
    for case in error_cases():
        entry = {"name": "error/" + case["name"], "messages": case["messages"], "options": case["options"],
                 "error": True}
        try:
            text = render(enc, case["messages"], case["options"])
            # backslashreplace: a lone surrogate the reference let through stays printable ASCII
            entry["reference"] = "accepted: " + text.encode("utf-8", "backslashreplace").decode("utf-8")
        except Exception as e:  # noqa: BLE001 - recording what the reference does
            entry["reference"] = f"{type(e).__name__}: {e}"
        out_cases.append(entry)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cases.json"), "w", encoding="ascii") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=True) for c in out_cases))
        f.write("\n]\n")
    manifest = {
        "generator": "scripts/make_chat_fixtures.py",
        "reference": "vllm/tokenizers/deepseek_v4_encoding.py",
        "vllm_version": args.vllm_version,
        "reference_sha256": encoder_sha256,
        "seed": args.seed,
        "cases": sum(1 for c in out_cases if "expected" in c),
        "error_cases": sum(1 for c in out_cases if c.get("error")),
    }
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="ascii") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {manifest['cases']} cases and {manifest['error_cases']} error cases to {args.out}")


if __name__ == "__main__":
    main()
