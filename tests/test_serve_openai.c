/* The OpenAI adapter without a server: request bodies -> serve_chat_request (and the 400s naming
 * the field), the response objects and streamed chunks against JSON written by hand from the
 * OpenAI API reference's examples, and the output side of the runner (tokens -> deltas: reasoning,
 * content, tool calls, stop strings, logprobs) on DeepSeek-V4's real tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/model.h"
#include "serve/engine.h"
#include "serve/chat_run.h"
#include "serve/openai.h"
#include "text/chat_tokens.h"

#define DSML "\xef\xbd\x9c" "DSML" "\xef\xbd\x9c"

static cn_tokenizer *g_tok;

/* got equals the hand-written JSON want (key order free, numbers by value). */
static void check_json(const cJSON *got, const char *want_text, const char *what) {
    cJSON *want = cJSON_Parse(want_text);
    CHECKF(want != NULL, "%s: the expected JSON does not parse", what);
    bool same = want && got && cJSON_Compare(got, want, true);
    if (!same) {
        char *g = got ? cJSON_PrintUnformatted(got) : NULL;
        fprintf(stderr, "%s:\n  got  %s\n  want %s\n", what, g ? g : "(null)", want_text);
        free(g);
    }
    CHECKF(same, "%s", what);
    cJSON_Delete(want);
}

/* ---- request parsing ---- */

static void test_parse_full_request(void) {
    const char *body =
        "{\"model\":\"deepseek-v4\",\"messages\":["
        "{\"role\":\"developer\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is the weather\"},{\"type\":\"text\",\"text\":\"in Paris?\"}]},"
        "{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"need a tool\",\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"18C\",\"name\":\"ignored\"},"
        "{\"role\":\"user\",\"content\":\"thanks\",\"dsml\":\"smuggled\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather\","
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":[\"city\"]}}}],"
        "\"tool_choice\":\"auto\",\"reasoning_effort\":\"medium\",\"temperature\":0.5,\"top_p\":0.9,\"seed\":42,"
        "\"max_tokens\":100,\"max_completion_tokens\":50,\"stop\":[\"END\",\"\\n\\n\"],\"logprobs\":true,\"top_logprobs\":3,"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"n\":1,\"presence_penalty\":0,\"user\":\"u1\"}";
    serve_chat_request r;
    serve_openai_fault f;
    cn_status st = serve_openai_parse_chat(body, strlen(body), &r, &f);
    CHECKF(st == CN_OK, "%s (%s)", f.error.msg, f.param);
    if (st == CN_OK) {
        /* The encoder's form: developer -> system, only known fields kept, arguments kept as text. */
        check_json(r.messages,
                   "[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"What is the weather\"},{\"type\":\"text\",\"text\":\"in Paris?\"}]},"
                   "{\"role\":\"assistant\",\"reasoning_content\":\"need a tool\",\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
                   "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}]},"
                   "{\"role\":\"tool\",\"content\":\"18C\",\"tool_call_id\":\"call_1\"},"
                   "{\"role\":\"user\",\"content\":\"thanks\"}]",
                   "messages");
        CHECK(r.tools && cJSON_GetArraySize(r.tools) == 1);
        CHECK(r.tool_choice == SERVE_TOOL_CHOICE_AUTO);
        CHECK(r.thinking && r.effort == CN_CHAT_EFFORT_LOW);
        CHECK(r.sampling.temperature == 0.5f && r.sampling.top_p == 0.9f && r.sampling.seed == 42);
        CHECK(r.max_tokens == 50);
        CHECK(r.n_stop == 2 && strcmp(r.stop[0], "END") == 0 && strcmp(r.stop[1], "\n\n") == 0);
        CHECK(r.logprobs && r.top_logprobs == 3);
        CHECK(r.stream && r.include_usage);
        CHECK(r.response_kind == SERVE_RESPONSE_TEXT);
    }
    serve_chat_request_free(&r);

    /* Defaults: chat mode, temperature 1, no tools -> tool_choice none, random seeds differ. */
    const char *minimal = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    serve_chat_request a, b;
    CHECK(serve_openai_parse_chat(minimal, strlen(minimal), &a, &f) == CN_OK);
    CHECK(serve_openai_parse_chat(minimal, strlen(minimal), &b, &f) == CN_OK);
    CHECK(!a.thinking && a.sampling.temperature == 1.0f && a.sampling.top_p == 1.0f && a.max_tokens == 0);
    CHECK(a.tool_choice == SERVE_TOOL_CHOICE_NONE && !a.stream && !a.logprobs && a.n_stop == 0);
    CHECK(a.sampling.seed != b.sampling.seed);
    serve_chat_request_free(&a);
    serve_chat_request_free(&b);

    /* Thinking switches and effort names. */
    static const struct {
        const char *extra;
        bool thinking;
        cn_chat_effort effort;
    } modes[] = {
        {"\"thinking\":{\"type\":\"enabled\"}", true, CN_CHAT_EFFORT_DEFAULT},
        {"\"chat_template_kwargs\":{\"thinking\":true}", true, CN_CHAT_EFFORT_DEFAULT},
        {"\"reasoning_effort\":\"high\"", true, CN_CHAT_EFFORT_HIGH},
        {"\"reasoning_effort\":\"max\"", true, CN_CHAT_EFFORT_MAX},
        {"\"reasoning_effort\":\"none\"", false, CN_CHAT_EFFORT_DEFAULT},
        {"\"thinking\":{\"type\":\"disabled\"},\"reasoning_effort\":\"high\"", false, CN_CHAT_EFFORT_HIGH},
    };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],%s}", modes[i].extra);
        serve_chat_request r2;
        CHECKF(serve_openai_parse_chat(text, strlen(text), &r2, &f) == CN_OK, "%s: %s", modes[i].extra, f.error.msg);
        CHECKF(r2.thinking == modes[i].thinking && r2.effort == modes[i].effort, "%s", modes[i].extra);
        serve_chat_request_free(&r2);
    }

    /* Named tool choice and response formats. */
    const char *named =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"parallel_tool_calls\":false,"
        "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}}";
    CHECK(serve_openai_parse_chat(named, strlen(named), &r, &f) == CN_OK);
    CHECK(r.tool_choice == SERVE_TOOL_CHOICE_NAMED && r.tool_choice_name && strcmp(r.tool_choice_name, "f") == 0);
    CHECK(r.single_tool_call);
    serve_chat_request_free(&r);
    /* A JSON response format answers in chat mode: its constraint starts at the first token. */
    const char *format =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"reasoning_effort\":\"high\","
        "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"s\",\"schema\":{\"type\":\"object\"}}}}";
    CHECK(serve_openai_parse_chat(format, strlen(format), &r, &f) == CN_OK);
    CHECK(r.response_kind == SERVE_RESPONSE_JSON_SCHEMA && !r.thinking && !r.single_tool_call);
    check_json(r.response_schema, "{\"type\":\"object\"}", "response schema");
    serve_chat_request_free(&r);
}

static void test_parse_errors(void) {
    static const struct {
        const char *body;
        const char *param;
        const char *says; /* a piece of the message */
    } cases[] = {
        {"{\"model\":\"m\",\"messages\":[", "", "not valid JSON"},
        {"[1]", "", "JSON object"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "model", "model"},
        {"{\"model\":\"m\"}", "messages", "non-empty array"},
        {"{\"model\":\"m\",\"messages\":[]}", "messages", "non-empty array"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0]", "wizard"},
        {"{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0]", "role"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "messages[0]", "content"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
         "messages[0].content", "image_url"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[0]", "tool_call_id"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"y\"}]}",
         "messages", "last message"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":"
         "{\"name\":\"f\",\"arguments\":\"{bad\"}}]},{\"role\":\"user\",\"content\":\"x\"}]}",
         "messages[0].tool_calls", "not a JSON object"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", "temperature", "[0, 2]"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":0}", "top_p", "(0, 1]"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "max_tokens", ">= 1"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":1.5}",
         "max_completion_tokens", "integer"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"seed\":\"1\"}", "seed", "integer"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n", "n = 1"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"\"]}", "stop", "empty"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":7}", "stop", "string"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", "top_logprobs", "logprobs: true"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":21}",
         "top_logprobs", "0 to 20"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":{\"include_usage\":true}}",
         "stream_options", "stream: true"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", "stream", "boolean"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}", "tool_choice", "needs tools"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
         "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}",
         "tool_choice", "not in tools"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a b\"}}]}",
         "tools", "tools[0].function.name"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
         "{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}",
         "tools", "already defined"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"reasoning_effort\":\"extreme\"}", "reasoning_effort", "extreme"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"xml\"}}", "response_format", "xml"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\"}}",
         "response_format", "json_schema"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"frequency_penalty\":0.5}", "frequency_penalty", "not supported"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
         "\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"}}",
         "response_format", "cannot both"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"parallel_tool_calls\":1}", "parallel_tool_calls", "boolean"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logit_bias\":{\"1\":5}}", "logit_bias", "not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        serve_chat_request r;
        serve_openai_fault f;
        cn_status st = serve_openai_parse_chat(cases[i].body, strlen(cases[i].body), &r, &f);
        CHECKF(st != CN_OK && f.status == 400, "case %zu accepted: %s", i, cases[i].body);
        CHECKF(strcmp(f.param, cases[i].param) == 0, "case %zu: param \"%s\", want \"%s\"", i, f.param, cases[i].param);
        CHECKF(strstr(f.error.msg, cases[i].says) != NULL, "case %zu: message \"%s\" lacks \"%s\"", i, f.error.msg, cases[i].says);
        serve_chat_request_free(&r);
    }
}

static void test_parse_completion(void) {
    serve_completion_request r;
    serve_openai_fault f;
    const char *text = "{\"model\":\"m\",\"prompt\":\"Say this is a test\",\"max_tokens\":7,\"temperature\":0,\"logprobs\":2,"
                       "\"stop\":\"\\n\",\"stream\":true,\"stream_options\":{\"include_usage\":true}}";
    CHECKF(serve_openai_parse_completion(text, strlen(text), &r, &f) == CN_OK, "%s", f.error.msg);
    CHECK(r.prompt_text && strcmp(r.prompt_text, "Say this is a test") == 0 && !r.prompt_ids);
    CHECK(r.max_tokens == 7 && r.sampling.temperature == 0 && r.logprobs == 2 && r.n_stop == 1 && r.stream && r.include_usage);
    serve_completion_request_free(&r);
    const char *ids = "{\"model\":\"m\",\"prompt\":[[1,2,3]]}";
    CHECK(serve_openai_parse_completion(ids, strlen(ids), &r, &f) == CN_OK);
    CHECK(r.n_prompt_ids == 3 && r.prompt_ids[2] == 3 && r.max_tokens == 16 && r.logprobs == -1);
    serve_completion_request_free(&r);
    static const char *const bad[][2] = {
        {"{\"model\":\"m\"}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":[1,-2]}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":\"\"}", "prompt"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}", "echo"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":3}", "best_of"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":true}", "logprobs"},
        {"{\"prompt\":\"x\"}", "model"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECKF(serve_openai_parse_completion(bad[i][0], strlen(bad[i][0]), &r, &f) != CN_OK && f.status == 400 &&
                   strcmp(f.param, bad[i][1]) == 0,
               "%s: param %s", bad[i][0], f.param);
        serve_completion_request_free(&r);
    }
}

/* ---- formatting, against the API reference's examples ---- */

static void test_error_json(void) {
    cJSON *e = serve_openai_error_json(400, "temperature must be a number in [0, 2]", "temperature");
    check_json(e,
               "{\"error\":{\"message\":\"temperature must be a number in [0, 2]\",\"type\":\"invalid_request_error\","
               "\"param\":\"temperature\",\"code\":null}}",
               "400 error");
    cJSON_Delete(e);
    e = serve_openai_error_json(429, "queue full", NULL);
    check_json(e, "{\"error\":{\"message\":\"queue full\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":null}}", "429 error");
    cJSON_Delete(e);
}

static serve_delta text_delta(serve_delta_kind kind, const char *text) {
    return (serve_delta){.kind = kind, .text = text, .len = strlen(text), .call_index = -1};
}

static void test_chat_response(void) {
    serve_openai_meta meta = {.id = "chatcmpl-123", .model = "gpt-4o-mini", .created = 1677652288};
    serve_openai_reply reply = {0};
    serve_delta d = text_delta(SERVE_DELTA_CONTENT, "\n\nHello there, ");
    serve_openai_reply_add(&reply, &d);
    d = text_delta(SERVE_DELTA_CONTENT, "how may I assist you today?");
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_FINISH, .text = "", .finish = SERVE_FINISH_STOP,
                      .usage = {.prompt_tokens = 9, .completion_tokens = 12, .cached_tokens = 0}};
    serve_openai_reply_add(&reply, &d);
    cJSON *json = serve_openai_chat_response(&meta, &reply, g_tok, false);
    check_json(json,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion\",\"created\":1677652288,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\\n\\nHello there, how may I assist you today?\"},"
               "\"logprobs\":null,\"finish_reason\":\"stop\"}],"
               "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21,\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
               "chat.completion");
    cJSON_Delete(json);
    serve_openai_reply_free(&reply);

    /* Tool calls (the function-calling guide's example), reasoning, cached tokens. A call whose
       arguments do not form an object is left out. */
    d = text_delta(SERVE_DELTA_REASONING, "Need the weather.");
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_TOOL_CALL, .text = "get_weather", .len = 11, .call_index = 0, .call_id = "call_abc123"};
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "{\"location\": ", .len = 13, .call_index = 0};
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "\"Paris, France\"}", .len = 16, .call_index = 0};
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_TOOL_CALL, .text = "broken", .len = 6, .call_index = 1, .call_id = "call_x"};
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "{\"a\": ", .len = 6, .call_index = 1};
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_FINISH, .text = "", .finish = SERVE_FINISH_TOOL_CALLS,
                      .usage = {.prompt_tokens = 82, .completion_tokens = 17, .cached_tokens = 64}};
    serve_openai_reply_add(&reply, &d);
    json = serve_openai_chat_response(&meta, &reply, g_tok, false);
    check_json(json,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion\",\"created\":1677652288,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"Need the weather.\","
               "\"tool_calls\":[{\"id\":\"call_abc123\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
               "\"arguments\":\"{\\\"location\\\": \\\"Paris, France\\\"}\"}}]},"
               "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],"
               "\"usage\":{\"prompt_tokens\":82,\"completion_tokens\":17,\"total_tokens\":99,\"prompt_tokens_details\":{\"cached_tokens\":64}}}",
               "chat.completion with tool_calls");
    cJSON_Delete(json);
    serve_openai_reply_free(&reply);
}

static void test_chat_chunks(void) {
    serve_openai_meta meta = {.id = "chatcmpl-123", .model = "gpt-4o-mini", .created = 1694268190};
    cJSON *c = serve_openai_chat_role_chunk(&meta, false);
    check_json(c,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}",
               "first chunk");
    cJSON_Delete(c);
    serve_delta d = text_delta(SERVE_DELTA_CONTENT, "Hello");
    c = serve_openai_chat_chunk(&meta, &d, g_tok, false, false);
    check_json(c,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}]}",
               "content chunk");
    cJSON_Delete(c);
    d = text_delta(SERVE_DELTA_REASONING, "hmm");
    c = serve_openai_chat_chunk(&meta, &d, g_tok, false, true);
    check_json(c,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"hmm\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}",
               "reasoning chunk with include_usage");
    cJSON_Delete(c);
    /* Tool calls: id, type and name in the first fragment; arguments fragments after (3.6). */
    d = (serve_delta){.kind = SERVE_DELTA_TOOL_CALL, .text = "get_weather", .len = 11, .call_index = 0, .call_id = "call_DdmO9pD3xa9XTPNJ32zg2hcA"};
    c = serve_openai_chat_chunk(&meta, &d, g_tok, false, false);
    check_json(c,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_DdmO9pD3xa9XTPNJ32zg2hcA\",\"type\":\"function\","
               "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"logprobs\":null,\"finish_reason\":null}]}",
               "tool call start chunk");
    cJSON_Delete(c);
    d = (serve_delta){.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "{\"", .len = 2, .call_index = 0};
    c = serve_openai_chat_chunk(&meta, &d, g_tok, false, false);
    check_json(c,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"\"}}]},"
               "\"logprobs\":null,\"finish_reason\":null}]}",
               "tool arguments chunk");
    cJSON_Delete(c);
    d = (serve_delta){.kind = SERVE_DELTA_FINISH, .text = "", .finish = SERVE_FINISH_STOP};
    c = serve_openai_chat_chunk(&meta, &d, g_tok, false, false);
    check_json(c,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\","
               "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}",
               "finish chunk");
    cJSON_Delete(c);
    serve_usage usage = {.prompt_tokens = 9, .completion_tokens = 12, .cached_tokens = 4};
    c = serve_openai_usage_chunk(&meta, "chat.completion.chunk", &usage);
    check_json(c,
               "{\"id\":\"chatcmpl-123\",\"object\":\"chat.completion.chunk\",\"created\":1694268190,\"model\":\"gpt-4o-mini\","
               "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21,"
               "\"prompt_tokens_details\":{\"cached_tokens\":4}}}",
               "usage chunk");
    size_t len = 0;
    char *sse = serve_openai_sse(c, &len);
    CHECK(sse && len == strlen(sse) && strncmp(sse, "data: {\"id\":\"chatcmpl-123\"", 26) == 0 && strcmp(sse + len - 3, "}\n\n") == 0);
    free(sse);
    cJSON_Delete(c);
}

static void test_logprobs(void) {
    if (!g_tok) return;
    int32_t hello = cn_tokenizer_token_id(g_tok, "Hello"), hi = cn_tokenizer_token_id(g_tok, "Hi");
    CHECK(hello >= 0 && hi >= 0);
    serve_token_logprob lp = {.token = hello, .logprob = -0.5f, .n_top = 2, .top = {{hello, -0.5f}, {hi, -1.25f}}};
    cJSON *c = serve_openai_chat_logprobs(&lp, 1, g_tok);
    check_json(c,
               "[{\"token\":\"Hello\",\"logprob\":-0.5,\"bytes\":[72,101,108,108,111],\"top_logprobs\":["
               "{\"token\":\"Hello\",\"logprob\":-0.5,\"bytes\":[72,101,108,108,111]},{\"token\":\"Hi\",\"logprob\":-1.25,\"bytes\":[72,105]}]}]",
               "chat logprobs");
    cJSON_Delete(c);
    /* The completions shape (the legacy reference's example layout). */
    serve_openai_meta meta = {.id = "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", .model = "gpt-3.5-turbo-instruct", .created = 1589478378};
    serve_openai_reply reply = {0};
    serve_delta d = {.kind = SERVE_DELTA_CONTENT, .text = "Hello", .len = 5, .call_index = -1, .logprobs = &lp, .n_logprobs = 1};
    serve_openai_reply_add(&reply, &d);
    d = (serve_delta){.kind = SERVE_DELTA_FINISH, .text = "", .finish = SERVE_FINISH_LENGTH,
                      .usage = {.prompt_tokens = 5, .completion_tokens = 1}};
    serve_openai_reply_add(&reply, &d);
    c = serve_openai_completion_response(&meta, &reply, g_tok, true);
    check_json(c,
               "{\"id\":\"cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7\",\"object\":\"text_completion\",\"created\":1589478378,\"model\":\"gpt-3.5-turbo-instruct\","
               "\"choices\":[{\"text\":\"Hello\",\"index\":0,\"logprobs\":{\"tokens\":[\"Hello\"],\"token_logprobs\":[-0.5],"
               "\"top_logprobs\":[{\"Hello\":-0.5,\"Hi\":-1.25}],\"text_offset\":[0]},\"finish_reason\":\"length\"}],"
               "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
               "text_completion");
    cJSON_Delete(c);
    serve_openai_reply_free(&reply);
    size_t offset = 0;
    d = (serve_delta){.kind = SERVE_DELTA_CONTENT, .text = " test", .len = 5, .call_index = -1};
    c = serve_openai_completion_chunk(&meta, &d, g_tok, false, false, &offset);
    check_json(c,
               "{\"id\":\"cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7\",\"object\":\"text_completion\",\"created\":1589478378,\"model\":\"gpt-3.5-turbo-instruct\","
               "\"choices\":[{\"text\":\" test\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}",
               "completion chunk");
    cJSON_Delete(c);
}

/* ---- the runner's output side on the real tokenizer ---- */

typedef struct {
    cn_output_bytes reasoning, content, name, arguments;
    char call_id[SERVE_TOOL_CALL_ID_MAX];
    int calls, finishes, deltas;
    serve_finish finish;
    size_t logprobs;
    int stop_after; /* the sink reports the client gone after this many deltas (0: never) */
} collected;

static bool collect(void *context, const serve_delta *d) {
    collected *c = context;
    c->deltas++;
    c->logprobs += d->n_logprobs;
    CHECK(d->text && strlen(d->text) == d->len);
    switch (d->kind) {
    case SERVE_DELTA_REASONING: cn_output_bytes_append(&c->reasoning, d->text, d->len); break;
    case SERVE_DELTA_CONTENT: cn_output_bytes_append(&c->content, d->text, d->len); break;
    case SERVE_DELTA_TOOL_CALL:
        c->calls++;
        CHECK(d->call_index == 0);
        snprintf(c->call_id, sizeof c->call_id, "%s", d->call_id);
        cn_output_bytes_append(&c->name, d->text, d->len);
        break;
    case SERVE_DELTA_TOOL_ARGUMENTS: cn_output_bytes_append(&c->arguments, d->text, d->len); break;
    case SERVE_DELTA_FINISH:
        c->finishes++;
        c->finish = d->finish;
        break;
    }
    return c->stop_after == 0 || c->deltas < c->stop_after;
}

static void collected_free(collected *c) {
    cn_output_bytes_free(&c->reasoning);
    cn_output_bytes_free(&c->content);
    cn_output_bytes_free(&c->name);
    cn_output_bytes_free(&c->arguments);
}

/* Feeds text's tokens (added tokens recognised, as the model would sample them) one at a time.
 * Returns how many were fed before the output asked to stop. */
static size_t run_text(const char *text, cn_output_start start, bool parse, char *const *stop, size_t n_stop,
                       serve_tool_calls *registry, collected *c, serve_finish reason, bool *stopped_out) {
    cn_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(cn_tokenizer_encode(g_tok, text, strlen(text), CN_ADDED_TOKENS_ALL, &ids, &n, &err) == CN_OK);
    serve_output_options options = {.tokenizer = g_tok, .parse = parse, .start = start, .stop = stop, .n_stop = n_stop,
                                    .logprobs = true, .registry = registry, .sink = collect, .sink_context = c};
    serve_output *o = NULL;
    CHECK(serve_output_create(&options, &o, &err) == CN_OK);
    size_t fed = 0;
    bool stopped = false;
    for (size_t i = 0; i < n && !stopped && o; i++, fed++) {
        cn_engine_event e = {.kind = CN_ENGINE_TOKEN, .token = ids[i], .logprob = -1.0f};
        CHECK(serve_output_token(o, &e, &stopped, &err) == CN_OK);
    }
    serve_usage usage = {.prompt_tokens = 10, .completion_tokens = (int64_t)fed};
    if (o && !serve_output_client_gone(o)) CHECK(serve_output_finish(o, reason, &usage, &err) == CN_OK);
    serve_output_free(o);
    free(ids);
    if (stopped_out) *stopped_out = stopped;
    return fed;
}

static void test_output_side(void) {
    if (!g_tok) return;
    cn_error err = {0};
    serve_tool_calls *registry = NULL;
    CHECK(serve_tool_calls_create(16, 1 << 16, &registry, &err) == CN_OK);

    /* Reasoning (the prompt ended with <think>), content, one tool call. */
    const char *reply = "Let me check \xe5\xa4\xa9\xe6\xb0\xa3.</think>Checking.\n\n<" DSML "tool_calls>\n<" DSML
                        "invoke name=\"get_weather\">\n<" DSML "parameter name=\"city\" string=\"true\">Paris</" DSML
                        "parameter>\n<" DSML "parameter name=\"days\" string=\"false\">3</" DSML "parameter>\n</" DSML
                        "invoke>\n</" DSML "tool_calls>";
    collected c = {0};
    bool stopped = false;
    size_t fed = run_text(reply, CN_OUTPUT_START_IN_REASONING, true, NULL, 0, registry, &c, SERVE_FINISH_STOP, &stopped);
    CHECK(!stopped);
    CHECKF(strcmp(cn_output_bytes_str(&c.reasoning), "Let me check \xe5\xa4\xa9\xe6\xb0\xa3.") == 0, "%s", cn_output_bytes_str(&c.reasoning));
    CHECKF(strcmp(cn_output_bytes_str(&c.content), "Checking.") == 0, "%s", cn_output_bytes_str(&c.content));
    CHECK(c.calls == 1 && strcmp(cn_output_bytes_str(&c.name), "get_weather") == 0);
    CHECKF(strcmp(cn_output_bytes_str(&c.arguments), "{\"city\": \"Paris\", \"days\": 3}") == 0, "%s",
           cn_output_bytes_str(&c.arguments));
    CHECK(strncmp(c.call_id, "call_", 5) == 0);
    CHECK(c.finishes == 1 && c.finish == SERVE_FINISH_TOOL_CALLS);
    CHECKF(c.logprobs == fed, "%zu logprobs for %zu tokens", c.logprobs, fed);
    /* The call was remembered under the id the client got. */
    CHECK(serve_tool_calls_count(registry) == 1);
    collected_free(&c);

    /* A stop string across token boundaries: the text before it is sent, the rest never is. */
    char *stops[] = {"the end", "STOP"};
    memset(&c, 0, sizeof c);
    fed = run_text("Once upon a time this was the end of it all", CN_OUTPUT_START_IN_CONTENT, true, stops, 2, NULL, &c,
                   SERVE_FINISH_LENGTH, &stopped);
    CHECK(stopped);
    CHECKF(strcmp(cn_output_bytes_str(&c.content), "Once upon a time this was ") == 0, "%s", cn_output_bytes_str(&c.content));
    CHECK(c.finish == SERVE_FINISH_STOP); /* a stop string is "stop" even when the caller said length */
    collected_free(&c);

    /* A held prefix of a stop string that never completes is sent at the end. */
    memset(&c, 0, sizeof c);
    run_text("and that is the en", CN_OUTPUT_START_IN_CONTENT, true, stops, 2, NULL, &c, SERVE_FINISH_LENGTH, &stopped);
    CHECK(!stopped);
    CHECKF(strcmp(cn_output_bytes_str(&c.content), "and that is the en") == 0, "%s", cn_output_bytes_str(&c.content));
    CHECK(c.finish == SERVE_FINISH_LENGTH);
    collected_free(&c);

    /* Raw completions: markup is plain text, nothing parsed. */
    memset(&c, 0, sizeof c);
    run_text("a</think>b", CN_OUTPUT_START_IN_CONTENT, false, NULL, 0, NULL, &c, SERVE_FINISH_STOP, &stopped);
    CHECK(strcmp(cn_output_bytes_str(&c.content), "a</think>b") == 0 && c.reasoning.len == 0 && c.finish == SERVE_FINISH_STOP);
    collected_free(&c);

    /* The client goes away: the output stops and asks for the ticket to be cancelled. */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    fed = run_text("one two three four five six seven eight", CN_OUTPUT_START_IN_CONTENT, false, NULL, 0, NULL, &c,
                   SERVE_FINISH_STOP, &stopped);
    CHECK(stopped && c.deltas == 2 && c.finishes == 0 && fed == 2);
    collected_free(&c);

    serve_tool_calls_free(registry);
}

/* ---- serve_run and a client that has gone ---- */

typedef struct {
    int calls, gone_from; /* client_gone answers true from call number gone_from (0: the first) on */
} liveness;

static bool gone_after(void *context) {
    liveness *l = context;
    return l->calls++ >= l->gone_from;
}

/* A client that leaves is noticed at the next event, not only when the engine has kept a reader
 * waiting: a decoding ticket always has its next token ready, so a whole (non-streamed) reply,
 * whose sink never sees the client go, decoded to max_tokens after its client had left, and a
 * server stopping with one in flight waited for all of it (test_cli_serve's SIGINT hang). On the
 * tiny checkpoint a step takes far less than serve_run's 100 ms wait, so before the fix the run
 * below reached its context limit and sent FINISH without asking once. */
static void test_run_client_gone(void) {
    if (!g_tok) return;
    cn_error err = {0};
    cn_model *m = NULL;
    if (cn_model_open("tests/fixtures/tiny", 2, &m, &err) != CN_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    cn_engine *e = NULL;
    cn_engine_options eo = {.parallel = 1, .queue_limit = 4, .ctx = 64};
    CHECKF(cn_engine_start(m, &eo, &e, &err) == CN_OK, "%s", err.msg);
    serve_app app = {.model = m, .tokenizer = g_tok, .engine = e, .ctx = 64, .default_max_tokens = 1000};
    const int32_t prompt[] = {0, 17, 42, 99, 7, 200, 3, 64};
    for (int gone_from = 0; e && gone_from <= 2; gone_from += 2) {
        collected c = {0};
        liveness l = {.gone_from = gone_from};
        serve_run_options o = {.prompt = prompt, .n_prompt = sizeof prompt / sizeof *prompt, .parse = false,
                               .start = CN_OUTPUT_START_IN_CONTENT, .max_tokens = 1000,
                               .sampling = {.temperature = 1.0f, .top_p = 1.0f, .seed = 7},
                               .sink = collect, .sink_context = &c, .client_gone = gone_after, .client_gone_context = &l};
        CHECKF(serve_run(&app, &o, &err) == CN_OK, "%s", err.msg);
        CHECKF(l.calls == gone_from + 1, "client gone from call %d: asked %d times", gone_from, l.calls);
        CHECKF(c.finishes == 0 && c.deltas <= 2 * gone_from, "client gone from call %d: %d deltas, %d finishes",
               gone_from, c.deltas, c.finishes);
        collected_free(&c);
    }
    cn_engine_stop(e);
    cn_model_close(m);
}

int main(void) {
    const char *path = getenv("CLAWNET_TOKENIZER_JSON");
    cn_error err = {0};
    if (!path || !*path || cn_tokenizer_load(path, &g_tok, &err) != CN_OK) {
        fprintf(stderr, "test_serve_openai: no tokenizer (CLAWNET_TOKENIZER_JSON=%s): %s\n", path ? path : "", err.msg);
        cn_test_failures++;
    }
    test_parse_full_request();
    test_parse_errors();
    test_parse_completion();
    test_error_json();
    test_chat_response();
    test_chat_chunks();
    test_logprobs();
    test_output_side();
    test_run_client_gone();
    cn_tokenizer_free(g_tok);
    return cn_test_finish("test_serve_openai");
}
