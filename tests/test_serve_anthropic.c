/* The Anthropic Messages adapter without a server: request bodies -> serve_chat_request (content
 * blocks, tool_use/tool_result, thinking, tools, tool_choice) against the chat encoder's messages
 * written by hand, the refusals, and the Message object and stream events built from deltas
 * against JSON written by hand from the Anthropic API reference's examples ("Messages",
 * "Streaming Messages", "Errors"). Thinking signatures are checked against Python's
 * hashlib.blake2b(digest_size=32). On DeepSeek-V4's tokenizer: the output side reports the stop
 * string that ended a reply and counts reasoning tokens up to </think>. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "serve/anthropic.h"
#include "serve/chat_output.h"
#include "serve/sse_event.h"
#include "text/chat_tokens.h"

static cn_tokenizer *g_tok;

static void check_json(const cJSON *got, const char *want_text, const char *what) {
    /* Compared as a client reads it: printed, then parsed (tool inputs are raw JSON items). */
    cJSON *want = cJSON_Parse(want_text);
    CHECKF(want != NULL, "%s: the expected JSON does not parse", what);
    char *g = got ? cJSON_PrintUnformatted(got) : NULL;
    cJSON *wire = g ? cJSON_Parse(g) : NULL;
    bool same = want && wire && cJSON_Compare(wire, want, true);
    if (!same) fprintf(stderr, "%s:\n  got  %s\n  want %s\n", what, g ? g : "(null)", want_text);
    free(g);
    cJSON_Delete(wire);
    CHECKF(same, "%s", what);
    cJSON_Delete(want);
}

/* ---- request parsing ---- */

static void test_parse_full_request(void) {
    const char *body =
        "{\"model\":\"claude-x\",\"max_tokens\":1024,"
        "\"system\":[{\"type\":\"text\",\"text\":\"You are terse.\",\"cache_control\":{\"type\":\"ephemeral\"}},"
        "{\"type\":\"text\",\"text\":\"Use tools.\"}],"
        "\"messages\":["
        "{\"role\":\"user\",\"content\":\"What is the weather in Paris and Rome?\"},"
        "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"Two cities.\",\"signature\":\"abc\"},"
        "{\"type\":\"text\",\"text\":\"Checking both.\"},"
        "{\"type\":\"tool_use\",\"id\":\"call_A1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\",\"days\":1.0}},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_B2\",\"name\":\"get_weather\",\"input\":{\"city\":\"Rome\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_B2\",\"content\":\"21C\"},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"call_A1\",\"is_error\":true,"
        "\"content\":[{\"type\":\"text\",\"text\":\"timeout\"},{\"type\":\"text\",\"text\":\"retry later\"}]},"
        "{\"type\":\"text\",\"text\":\"Summarise.\"}]}],"
        "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Weather by city\","
        "\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}],"
        "\"tool_choice\":{\"type\":\"auto\",\"disable_parallel_tool_use\":false},"
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2048},"
        "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,\"stop_sequences\":[\"END\",\"\\n\\nHuman:\"],"
        "\"stream\":true,\"metadata\":{\"user_id\":\"u-1\"}}";
    serve_chat_request r;
    cn_error err = {0};
    cn_status st = serve_anthropic_parse(body, strlen(body), false, &r, &err);
    CHECKF(st == CN_OK, "%s", err.msg);
    if (st == CN_OK) {
        /* system blocks joined as the encoder joins text parts; tool_use -> tool_calls with the
         * same ids and the input object as arguments; tool results as tool messages in block
         * order (the encoder sorts them into call order), is_error as an "Error: " prefix. */
        check_json(r.messages,
                   "[{\"role\":\"system\",\"content\":\"You are terse.\\n\\nUse tools.\"},"
                   "{\"role\":\"user\",\"content\":\"What is the weather in Paris and Rome?\"},"
                   "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Checking both.\"}],"
                   "\"tool_calls\":[{\"id\":\"call_A1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"days\":1.0}}},"
                   "{\"id\":\"toolu_B2\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Rome\"}}}],"
                   "\"reasoning_content\":\"Two cities.\"},"
                   "{\"role\":\"tool\",\"content\":\"21C\",\"tool_call_id\":\"toolu_B2\"},"
                   "{\"role\":\"tool\",\"content\":\"Error: timeout\\n\\nretry later\",\"tool_call_id\":\"call_A1\"},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Summarise.\"}]}]",
                   "messages");
        check_json(r.tools,
                   "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather by city\","
                   "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}]",
                   "tools");
        /* The input's number keeps its spelling (1.0), so the encoder renders what the client sent. */
        const cJSON *days = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(r.messages, 2), "tool_calls"), 0),
                                                 "function"),
                "arguments"),
            "days");
        CHECK(days && days->valuestring && strcmp(days->valuestring, "1.0") == 0);
        CHECK(r.tool_choice == SERVE_TOOL_CHOICE_AUTO);
        CHECK(r.thinking);
        CHECK(r.sampling.temperature == 0.5f && r.sampling.top_p == 0.9f && r.sampling.top_k == 40);
        CHECK(r.max_tokens == 1024);
        CHECK(r.n_stop == 2 && strcmp(r.stop[0], "END") == 0 && strcmp(r.stop[1], "\n\nHuman:") == 0);
        CHECK(r.stream);
    }
    serve_chat_request_free(&r);

    /* Defaults: chat mode (Anthropic's default), no tools -> none, not streamed. */
    const char *minimal = "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    CHECK(serve_anthropic_parse(minimal, strlen(minimal), false, &r, &err) == CN_OK);
    CHECK(!r.thinking && r.tool_choice == SERVE_TOOL_CHOICE_NONE && !r.stream && r.n_stop == 0 && r.max_tokens == 5);
    CHECK(r.sampling.temperature == 1.0f && r.sampling.top_k == 0);
    check_json(r.messages, "[{\"role\":\"user\",\"content\":\"hi\"}]", "minimal messages");
    serve_chat_request_free(&r);

    /* tool_choice any / tool, thinking adaptive with an effort, disabled; count_tokens needs no max_tokens. */
    const char *tools = "\"tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}},{\"name\":\"g\",\"input_schema\":{\"type\":\"object\"}}]";
    char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":{\"type\":\"any\"},"
             "\"thinking\":{\"type\":\"adaptive\"},\"output_config\":{\"effort\":\"max\"}}",
             tools);
    CHECKF(serve_anthropic_parse(buf, strlen(buf), false, &r, &err) == CN_OK, "%s", err.msg);
    CHECK(r.tool_choice == SERVE_TOOL_CHOICE_REQUIRED && r.thinking && r.effort == CN_CHAT_EFFORT_MAX);
    serve_chat_request_free(&r);
    snprintf(buf, sizeof buf,
             "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":{\"type\":\"tool\",\"name\":\"g\"},"
             "\"thinking\":{\"type\":\"disabled\"},\"output_config\":{\"effort\":\"high\"}}",
             tools);
    CHECKF(serve_anthropic_parse(buf, strlen(buf), false, &r, &err) == CN_OK, "%s", err.msg);
    CHECK(r.tool_choice == SERVE_TOOL_CHOICE_NAMED && strcmp(r.tool_choice_name, "g") == 0);
    CHECK(!r.thinking && r.effort == CN_CHAT_EFFORT_HIGH); /* effort alone does not turn thinking on */
    serve_chat_request_free(&r);
    snprintf(buf, sizeof buf, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],%s,\"tool_choice\":{\"type\":\"none\"}}", tools);
    CHECKF(serve_anthropic_parse(buf, strlen(buf), true, &r, &err) == CN_OK, "%s", err.msg);
    CHECK(r.tool_choice == SERVE_TOOL_CHOICE_NONE && r.tools);
    serve_chat_request_free(&r);
}

static void test_parse_errors(void) {
    static const struct {
        const char *body;
        cn_status code;
        const char *words;
    } cases[] = {
        {"not json", CN_ERR_ARG, "not valid JSON"},
        {"[1]", CN_ERR_ARG, "JSON object"},
        {"{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", CN_ERR_ARG, "model"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", CN_ERR_ARG, "max_tokens: Field required"},
        {"{\"model\":\"m\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", CN_ERR_ARG, "max_tokens"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}", CN_ERR_ARG, "non-empty"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", CN_ERR_ARG, "messages[0].role"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\"}]}", CN_ERR_ARG, "messages[0] needs \"content\""},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"base64\","
         "\"media_type\":\"image/png\",\"data\":\"AA==\"}}]}]}",
         CN_ERR_UNSUPPORTED, "messages[0].content[0]: content blocks of type \"image\" are not supported"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t\","
         "\"content\":[{\"type\":\"image\"}]}]}]}",
         CN_ERR_UNSUPPORTED, "messages[0].content[0].content[0]"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\"}]}]}", CN_ERR_ARG,
         "tool_use_id"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":[{\"type\":"
         "\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":\"{}\"}]},{\"role\":\"user\",\"content\":\"y\"}]}",
         CN_ERR_ARG, "\"input\": a JSON object"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"Sure\"}]}",
         CN_ERR_UNSUPPORTED, "prefilled"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"name\":\"f\"}]}", CN_ERR_ARG,
         "tools[0].input_schema"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"web_search_20250305\","
         "\"name\":\"web_search\"}]}",
         CN_ERR_ARG, "not supported"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"name\":\"bad name\","
         "\"input_schema\":{}}]}",
         CN_ERR_ARG, "tools[0].name"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":{\"type\":\"any\"}}", CN_ERR_ARG,
         "needs tools"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],"
         "\"tool_choice\":{\"type\":\"tool\",\"name\":\"g\"}}",
         CN_ERR_ARG, "not in tools"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"auto\"}", CN_ERR_ARG,
         "tool_choice must be an object"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"thinking\":{\"type\":\"enabled\"}}", CN_ERR_ARG,
         "budget_tokens"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"thinking\":{\"type\":\"on\"}}", CN_ERR_ARG,
         "thinking.type"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":1.5}", CN_ERR_ARG,
         "temperature"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_k\":-1}", CN_ERR_ARG, "top_k"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop_sequences\":\"END\"}", CN_ERR_ARG,
         "stop_sequences"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop_sequences\":[\"\"]}", CN_ERR_ARG,
         "stop_sequences"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", CN_ERR_ARG, "stream"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"system\":[{\"type\":\"image\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
         CN_ERR_UNSUPPORTED, "system[0]"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\","
         "\"input\":{}}]}]}",
         CN_ERR_ARG, "belongs in an assistant message"},
        {"{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"output_config\":{\"effort\":\"extreme\"}}",
         CN_ERR_ARG, "output_config.effort"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        serve_chat_request r;
        cn_error err = {0};
        cn_status st = serve_anthropic_parse(cases[i].body, strlen(cases[i].body), false, &r, &err);
        CHECKF(st == cases[i].code, "case %zu: status %d, want %d (%s)", i, (int)st, (int)cases[i].code, err.msg);
        CHECKF(strstr(err.msg, cases[i].words) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].words);
        serve_chat_request_free(&r);
    }
}

/* ---- formatting ---- */

static void test_error_json(void) {
    /* Anthropic's "Errors" page: {"type":"error","error":{"type":"not_found_error","message":"..."}}. */
    struct {
        int status;
        const char *type;
    } cases[] = {{400, "invalid_request_error"}, {401, "authentication_error"}, {403, "permission_error"},
                 {404, "not_found_error"},       {413, "request_too_large"},    {429, "rate_limit_error"},
                 {500, "api_error"},             {529, "overloaded_error"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *e = serve_anthropic_error_json(cases[i].status, "The requested resource could not be found.");
        char want[256];
        snprintf(want, sizeof want,
                 "{\"type\":\"error\",\"error\":{\"type\":\"%s\",\"message\":\"The requested resource could not be found.\"}}",
                 cases[i].type);
        check_json(e, want, cases[i].type);
        cJSON_Delete(e);
    }
    CHECK(serve_anthropic_status_for(CN_ERR_BUSY) == 529);
    CHECK(serve_anthropic_status_for(CN_ERR_ARG) == 400 && serve_anthropic_status_for(CN_ERR_UNSUPPORTED) == 400);
    CHECK(serve_anthropic_status_for(CN_ERR_IO) == 500);
}

static void test_signature(void) {
    /* Python: hashlib.blake2b(text.encode(), digest_size=32).hexdigest() */
    char sig[65];
    serve_anthropic_thinking_signature("Let me think.", 13, sig);
    CHECK(strcmp(sig, "bea7530e2f3d8dd893bf9f0d31dbfc3656d66352052f9ba7eaa44f3e8cd42592") == 0);
    serve_anthropic_thinking_signature("I need the weather.", 19, sig);
    CHECK(strcmp(sig, "19c3fca820acdcc5ae321ac546d547ad2040ee27f790d8dc69ff9435432ed82d") == 0);
}

static serve_delta text_delta(serve_delta_kind kind, const char *text) {
    return (serve_delta){.kind = kind, .text = text, .len = strlen(text), .call_index = -1};
}

/* The reply of the API reference's tool-use example, with thinking first: reasoning, text, one
 * call whose arguments arrive in two fragments, finish tool_calls. */
static void feed_tool_reply(serve_anthropic_reply *r, cJSON *events) {
    serve_delta deltas[] = {
        text_delta(SERVE_DELTA_REASONING, "I need "),
        text_delta(SERVE_DELTA_REASONING, "the weather."),
        text_delta(SERVE_DELTA_CONTENT, "Checking."),
        {.kind = SERVE_DELTA_TOOL_CALL, .text = "get_weather", .len = 11, .call_index = 0, .call_id = "call_abc"},
        {.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "{\"location\": ", .len = 13, .call_index = 0, .call_id = "call_abc"},
        {.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "\"San Francisco, CA\"}", .len = 20, .call_index = 0, .call_id = "call_abc"},
        {.kind = SERVE_DELTA_FINISH, .text = "", .call_index = -1, .finish = SERVE_FINISH_TOOL_CALLS,
         .usage = {.prompt_tokens = 472, .cached_tokens = 400, .completion_tokens = 89}},
    };
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) CHECK(serve_anthropic_reply_add(r, &deltas[i], events));
}

static void test_message(void) {
    serve_anthropic_meta meta = {.id = "msg_01Aq9w938a90dw8q", .model = "deepseek-v4"};
    serve_anthropic_reply r = {0};
    feed_tool_reply(&r, NULL);
    cJSON *m = serve_anthropic_message(&meta, &r);
    check_json(m,
               "{\"id\":\"msg_01Aq9w938a90dw8q\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"deepseek-v4\","
               "\"content\":[{\"type\":\"thinking\",\"thinking\":\"I need the weather.\","
               "\"signature\":\"19c3fca820acdcc5ae321ac546d547ad2040ee27f790d8dc69ff9435432ed82d\"},"
               "{\"type\":\"text\",\"text\":\"Checking.\"},"
               "{\"type\":\"tool_use\",\"id\":\"call_abc\",\"name\":\"get_weather\",\"input\":{\"location\":\"San Francisco, CA\"}}],"
               "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,"
               "\"usage\":{\"input_tokens\":72,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":400,\"output_tokens\":89}}",
               "tool-use message");
    cJSON_Delete(m);
    serve_anthropic_reply_free(&r);

    /* A stop sequence: stop_reason "stop_sequence" and the sequence itself. */
    serve_delta text = text_delta(SERVE_DELTA_CONTENT, "Hi!");
    serve_delta fin = {.kind = SERVE_DELTA_FINISH, .text = "", .call_index = -1, .finish = SERVE_FINISH_STOP,
                       .usage = {.prompt_tokens = 10, .completion_tokens = 3}, .stop_string = "\n\nHuman:"};
    CHECK(serve_anthropic_reply_add(&r, &text, NULL) && serve_anthropic_reply_add(&r, &fin, NULL));
    m = serve_anthropic_message(&meta, &r);
    check_json(m,
               "{\"id\":\"msg_01Aq9w938a90dw8q\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"deepseek-v4\","
               "\"content\":[{\"type\":\"text\",\"text\":\"Hi!\"}],\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"\\n\\nHuman:\","
               "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":3}}",
               "stop-sequence message");
    cJSON_Delete(m);
    serve_anthropic_reply_free(&r);

    /* max_tokens, and a call the parser failed on (arguments not one object) left out; an empty reply. */
    serve_delta call = {.kind = SERVE_DELTA_TOOL_CALL, .text = "f", .len = 1, .call_index = 0, .call_id = "call_x"};
    serve_delta args = {.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "{\"a\": ", .len = 6, .call_index = 0, .call_id = "call_x"};
    fin = (serve_delta){.kind = SERVE_DELTA_FINISH, .text = "", .call_index = -1, .finish = SERVE_FINISH_LENGTH,
                        .usage = {.prompt_tokens = 5, .completion_tokens = 4}};
    CHECK(serve_anthropic_reply_add(&r, &call, NULL) && serve_anthropic_reply_add(&r, &args, NULL) &&
          serve_anthropic_reply_add(&r, &fin, NULL));
    m = serve_anthropic_message(&meta, &r);
    check_json(m,
               "{\"id\":\"msg_01Aq9w938a90dw8q\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"deepseek-v4\","
               "\"content\":[],\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,"
               "\"usage\":{\"input_tokens\":5,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":4}}",
               "max_tokens message");
    cJSON_Delete(m);
    serve_anthropic_reply_free(&r);
}

static void test_stream_events(void) {
    serve_anthropic_meta meta = {.id = "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", .model = "deepseek-v4"};
    cJSON *start = serve_anthropic_message_start(&meta, 25);
    /* "Streaming Messages": message_start carries the message with empty content and null stop. */
    check_json(start,
               "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\",\"type\":\"message\","
               "\"role\":\"assistant\",\"content\":[],\"model\":\"deepseek-v4\",\"stop_reason\":null,\"stop_sequence\":null,"
               "\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\"output_tokens\":0}}}",
               "message_start");
    cJSON_Delete(start);

    serve_anthropic_reply r = {0};
    cJSON *events = cJSON_CreateArray();
    feed_tool_reply(&r, events);
    check_json(events,
               "[{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}},"
               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"I need \"}},"
               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"the weather.\"}},"
               "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\","
               "\"signature\":\"19c3fca820acdcc5ae321ac546d547ad2040ee27f790d8dc69ff9435432ed82d\"}},"
               "{\"type\":\"content_block_stop\",\"index\":0},"
               "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}},"
               "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Checking.\"}},"
               "{\"type\":\"content_block_stop\",\"index\":1},"
               "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_abc\","
               "\"name\":\"get_weather\",\"input\":{}}},"
               "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\": \"}},"
               "{\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\","
               "\"partial_json\":\"\\\"San Francisco, CA\\\"}\"}},"
               "{\"type\":\"content_block_stop\",\"index\":2},"
               "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},"
               "\"usage\":{\"input_tokens\":72,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":400,\"output_tokens\":89}},"
               "{\"type\":\"message_stop\"}]",
               "stream events");
    cJSON_Delete(events);
    serve_anthropic_reply_free(&r);

    /* The SSE framing: the event line names the type. */
    cJSON *stop = cJSON_Parse("{\"type\":\"message_stop\"}");
    size_t len = 0;
    char *sse = serve_sse_event("message_stop", stop, &len);
    const char *want = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    CHECK(sse && len == strlen(want) && memcmp(sse, want, len) == 0);
    free(sse);
    cJSON_Delete(stop);
}

/* ---- the output side's finish: which stop string, how many reasoning tokens ---- */

typedef struct {
    serve_delta finish;
    char stop[64];
    cn_output_bytes reasoning, content;
} finish_seen;

static bool keep_finish(void *context, const serve_delta *d) {
    finish_seen *s = context;
    if (d->kind == SERVE_DELTA_REASONING) cn_output_bytes_append(&s->reasoning, d->text, d->len);
    if (d->kind == SERVE_DELTA_CONTENT) cn_output_bytes_append(&s->content, d->text, d->len);
    if (d->kind == SERVE_DELTA_FINISH) {
        s->finish = *d;
        snprintf(s->stop, sizeof s->stop, "%s", d->stop_string ? d->stop_string : "(none)");
    }
    return true;
}

static void run_reply(const char *text, cn_output_start start, char *const *stop, size_t n_stop, finish_seen *seen,
                      size_t *n_ids) {
    cn_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(cn_tokenizer_encode(g_tok, text, strlen(text), CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_OK);
    serve_output_options options = {.tokenizer = g_tok, .parse = true, .start = start, .stop = stop, .n_stop = n_stop,
                                    .sink = keep_finish, .sink_context = seen};
    serve_output *o = NULL;
    CHECK(serve_output_create(&options, &o, &err) == CN_OK);
    bool stopped = false;
    for (size_t i = 0; i < n && !stopped && o; i++) {
        cn_engine_event e = {.kind = CN_ENGINE_TOKEN, .token = ids[i]};
        CHECK(serve_output_token(o, &e, &stopped, &err) == CN_OK);
    }
    serve_usage usage = {.prompt_tokens = 3, .completion_tokens = (int64_t)n};
    if (o) CHECK(serve_output_finish(o, SERVE_FINISH_STOP, &usage, &err) == CN_OK);
    serve_output_free(o);
    free(ids);
    *n_ids = n;
}

static void test_output_finish(void) {
    if (!g_tok) return;
    /* Reasoning tokens: those of "Hmm, rain?" and the </think> token, as the tokenizer splits them. */
    cn_error err = {0};
    int32_t *ids = NULL;
    size_t n_reasoning = 0;
    CHECK(cn_tokenizer_encode(g_tok, "Hmm, rain?</think>", 18, CN_ADDED_TOKENS_ALL, &ids, &n_reasoning, &err) == CN_OK);
    free(ids);
    finish_seen seen = {0};
    size_t n = 0;
    char never[] = "never", take[] = "Take";
    char *stops[] = {never, take};
    run_reply("Hmm, rain?</think>Take an umbrella.", CN_OUTPUT_START_IN_REASONING, stops, 2, &seen, &n);
    CHECK(seen.finish.kind == SERVE_DELTA_FINISH && seen.finish.finish == SERVE_FINISH_STOP);
    CHECKF(strcmp(seen.stop, "Take") == 0, "stop string %s", seen.stop);
    CHECKF(seen.finish.usage.reasoning_tokens == (int64_t)n_reasoning, "reasoning tokens %lld, want %zu",
           (long long)seen.finish.usage.reasoning_tokens, n_reasoning);
    CHECK(strcmp(cn_output_bytes_str(&seen.reasoning), "Hmm, rain?") == 0 && seen.content.len == 0);
    cn_output_bytes_free(&seen.reasoning);
    cn_output_bytes_free(&seen.content);

    /* No stop string matched, chat mode: no stop string, no reasoning tokens. */
    seen = (finish_seen){0};
    run_reply("Take an umbrella.", CN_OUTPUT_START_IN_CONTENT, stops, 1, &seen, &n);
    CHECK(strcmp(seen.stop, "(none)") == 0 && seen.finish.usage.reasoning_tokens == 0);
    CHECK(strcmp(cn_output_bytes_str(&seen.content), "Take an umbrella.") == 0);
    cn_output_bytes_free(&seen.content);

    /* Thinking that never ends: every token is reasoning. */
    seen = (finish_seen){0};
    run_reply("Still thinking about it", CN_OUTPUT_START_IN_REASONING, NULL, 0, &seen, &n);
    CHECK(seen.finish.usage.reasoning_tokens == (int64_t)n && n > 0);
    cn_output_bytes_free(&seen.reasoning);
}

int main(void) {
    const char *path = getenv("CLAWNET_TOKENIZER_JSON");
    cn_error err = {0};
    if (!path || !*path || cn_tokenizer_load(path, &g_tok, &err) != CN_OK) {
        fprintf(stderr, "test_serve_anthropic: no tokenizer (CLAWNET_TOKENIZER_JSON=%s): %s\n", path ? path : "", err.msg);
        cn_test_failures++;
    }
    test_parse_full_request();
    test_parse_errors();
    test_error_json();
    test_signature();
    test_message();
    test_stream_events();
    test_output_finish();
    cn_tokenizer_free(g_tok);
    return cn_test_finish("test_serve_anthropic");
}
