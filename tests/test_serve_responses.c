/* The Responses adapter without a server: request bodies (Codex-style input item lists) ->
 * serve_chat_request against the chat encoder's messages written by hand, the refusals with their
 * param, and the Response object and stream events built from deltas against JSON written by hand
 * from the OpenAI API reference and the openai SDK's type definitions
 * (openai/types/responses/response*.py, version 3.54.0). */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "serve/responses.h"

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

static void test_parse_items(void) {
    const char *body =
        "{\"model\":\"gpt-x\",\"instructions\":\"You are a coding agent.\",\"input\":["
        "{\"type\":\"message\",\"role\":\"developer\",\"content\":[{\"type\":\"input_text\",\"text\":\"Sandbox: none.\"}]},"
        "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"List the files.\"}]},"
        "{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"ignored: content wins\"}],"
        "\"content\":[{\"type\":\"reasoning_text\",\"text\":\"Use ls.\"}]},"
        "{\"type\":\"message\",\"role\":\"assistant\",\"id\":\"msg_1\",\"status\":\"completed\","
        "\"content\":[{\"type\":\"output_text\",\"text\":\"Running ls.\",\"annotations\":[]}]},"
        "{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_X\",\"name\":\"shell\",\"arguments\":\"{\\\"cmd\\\":[\\\"ls\\\"]}\"},"
        "{\"type\":\"function_call\",\"call_id\":\"call_Y\",\"name\":\"shell\",\"arguments\":\"{}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_X\",\"output\":\"a.c b.c\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"call_Y\",\"output\":[{\"type\":\"input_text\",\"text\":\"ok\"}]},"
        "{\"role\":\"user\",\"content\":\"Now count them.\"}],"
        "\"tools\":[{\"type\":\"function\",\"name\":\"shell\",\"description\":\"Runs a command\",\"strict\":false,"
        "\"parameters\":{\"type\":\"object\",\"properties\":{\"cmd\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}],"
        "\"tool_choice\":\"required\",\"parallel_tool_calls\":false,\"reasoning\":{\"effort\":\"high\",\"summary\":\"auto\"},"
        "\"max_output_tokens\":300,\"temperature\":0.5,\"top_p\":0.75,\"stream\":true,\"store\":false,\"stop\":[\"END\"],"
        "\"include\":[\"reasoning.encrypted_content\"],\"prompt_cache_key\":\"k\"}";
    serve_chat_request r;
    cJSON *echo = NULL;
    serve_openai_fault f;
    cn_status st = serve_responses_parse(body, strlen(body), &r, &echo, &f);
    CHECKF(st == CN_OK, "%s (%s)", f.error.msg, f.param);
    if (st == CN_OK) {
        check_json(r.messages,
                   "[{\"role\":\"system\",\"content\":\"You are a coding agent.\"},"
                   "{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"Sandbox: none.\"}]},"
                   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"List the files.\"}]},"
                   "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Running ls.\"}],"
                   "\"tool_calls\":[{\"id\":\"call_X\",\"type\":\"function\",\"function\":{\"name\":\"shell\",\"arguments\":\"{\\\"cmd\\\":[\\\"ls\\\"]}\"}},"
                   "{\"id\":\"call_Y\",\"type\":\"function\",\"function\":{\"name\":\"shell\",\"arguments\":\"{}\"}}],"
                   "\"reasoning_content\":\"Use ls.\"},"
                   "{\"role\":\"tool\",\"content\":\"a.c b.c\",\"tool_call_id\":\"call_X\"},"
                   "{\"role\":\"tool\",\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"tool_call_id\":\"call_Y\"},"
                   "{\"role\":\"user\",\"content\":\"Now count them.\"}]",
                   "messages");
        check_json(r.tools,
                   "[{\"type\":\"function\",\"function\":{\"name\":\"shell\",\"description\":\"Runs a command\","
                   "\"parameters\":{\"type\":\"object\",\"properties\":{\"cmd\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}}]",
                   "tools");
        CHECK(r.tool_choice == SERVE_TOOL_CHOICE_REQUIRED);
        CHECK(r.thinking && r.effort == CN_CHAT_EFFORT_HIGH);
        CHECK(r.max_tokens == 300 && r.sampling.temperature == 0.5f && r.sampling.top_p == 0.75f && r.stream);
        CHECK(r.n_stop == 1 && strcmp(r.stop[0], "END") == 0);
        check_json(echo,
                   "{\"instructions\":\"You are a coding agent.\",\"tools\":[{\"type\":\"function\",\"name\":\"shell\","
                   "\"description\":\"Runs a command\",\"strict\":false,\"parameters\":{\"type\":\"object\",\"properties\":{\"cmd\":"
                   "{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}}],\"tool_choice\":\"required\",\"parallel_tool_calls\":false,"
                   "\"temperature\":0.5,\"top_p\":0.75,\"max_output_tokens\":300,\"reasoning\":{\"effort\":\"high\",\"summary\":\"auto\"},"
                   "\"metadata\":{},\"store\":false}",
                   "echo");
    }
    serve_chat_request_free(&r);
    cJSON_Delete(echo);

    /* A string input, the defaults; reasoning summaries when there is no content; a named tool_choice. */
    const char *minimal = "{\"model\":\"m\",\"input\":\"hi\"}";
    CHECK(serve_responses_parse(minimal, strlen(minimal), &r, &echo, &f) == CN_OK);
    check_json(r.messages, "[{\"role\":\"user\",\"content\":\"hi\"}]", "string input");
    CHECK(!r.thinking && r.tool_choice == SERVE_TOOL_CHOICE_NONE && !r.stream && r.max_tokens == 0);
    check_json(echo,
               "{\"instructions\":null,\"tools\":[],\"tool_choice\":\"auto\",\"parallel_tool_calls\":true,\"temperature\":1,"
               "\"top_p\":1,\"max_output_tokens\":null,\"reasoning\":null,\"metadata\":{},\"store\":false}",
               "default echo");
    serve_chat_request_free(&r);
    cJSON_Delete(echo);
    const char *summaries =
        "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"q\"},{\"type\":\"reasoning\",\"summary\":["
        "{\"type\":\"summary_text\",\"text\":\"one\"},{\"type\":\"summary_text\",\"text\":\"two\"}],\"encrypted_content\":\"opaque\"},"
        "{\"type\":\"function_call\",\"call_id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 1}\"},"
        "{\"type\":\"function_call_output\",\"call_id\":\"c1\",\"output\":\"r\"}],"
        "\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"function\",\"name\":\"f\"}}";
    st = serve_responses_parse(summaries, strlen(summaries), &r, &echo, &f);
    CHECKF(st == CN_OK, "%s", f.error.msg);
    check_json(r.messages,
               "[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"reasoning_content\":\"one\\n\\ntwo\","
               "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 1}\"}}]},"
               "{\"role\":\"tool\",\"content\":\"r\",\"tool_call_id\":\"c1\"}]",
               "summaries and a call");
    CHECK(r.tool_choice == SERVE_TOOL_CHOICE_NAMED && strcmp(r.tool_choice_name, "f") == 0);
    serve_chat_request_free(&r);
    cJSON_Delete(echo);
}

static void test_parse_errors(void) {
    static const struct {
        const char *body, *param, *words;
    } cases[] = {
        {"{", "", "not valid JSON"},
        {"{\"input\":\"x\"}", "model", "model"},
        {"{\"model\":\"m\"}", "input", "input"},
        {"{\"model\":\"m\",\"input\":[]}", "input", "non-empty"},
        {"{\"model\":\"m\",\"input\":\"x\",\"store\":true}", "store", "keeps no responses"},
        {"{\"model\":\"m\",\"input\":\"x\",\"previous_response_id\":\"resp_1\"}", "previous_response_id", "not supported"},
        {"{\"model\":\"m\",\"input\":\"x\",\"conversation\":\"conv_1\"}", "conversation", "not supported"},
        {"{\"model\":\"m\",\"input\":\"x\",\"background\":true}", "background", "not supported"},
        {"{\"model\":\"m\",\"input\":[{\"type\":\"item_reference\",\"id\":\"msg_1\"}]}", "input", "input[0]: item_reference"},
        {"{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"image_url\":\"http://x\"}]}]}", "input",
         "input[0].content[0]: parts of type \"input_image\" are not supported"},
        {"{\"model\":\"m\",\"input\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "input", "input[0].role"},
        {"{\"model\":\"m\",\"input\":[{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"[1]\"}]}", "input",
         "input[0].arguments is not a JSON object"},
        {"{\"model\":\"m\",\"input\":[{\"type\":\"function_call_output\",\"output\":\"x\"}]}", "input", "call_id"},
        {"{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"y\"}]}", "input",
         "continuing it is not supported"},
        {"{\"model\":\"m\",\"input\":[{\"type\":\"web_search_call\"}]}", "input", "not supported"},
        {"{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"web_search\"}]}", "tools", "function tools only"},
        {"{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", "tools", "tools[0].name"},
        {"{\"model\":\"m\",\"input\":\"x\",\"tool_choice\":\"required\"}", "tool_choice", "needs tools"},
        {"{\"model\":\"m\",\"input\":\"x\",\"tools\":[{\"type\":\"function\",\"name\":\"f\"}],\"tool_choice\":{\"type\":\"function\",\"name\":\"g\"}}",
         "tool_choice", "not in tools"},
        {"{\"model\":\"m\",\"input\":\"x\",\"reasoning\":{\"effort\":\"huge\"}}", "reasoning.effort", "reasoning.effort"},
        {"{\"model\":\"m\",\"input\":\"x\",\"max_output_tokens\":0}", "max_output_tokens", "max_output_tokens"},
        {"{\"model\":\"m\",\"input\":\"x\",\"temperature\":3}", "temperature", "temperature"},
        {"{\"model\":\"m\",\"input\":\"x\",\"text\":{\"format\":{\"type\":\"xml\"}}}", "text.format", "text.format"},
        {"{\"model\":\"m\",\"input\":\"x\",\"instructions\":[1]}", "instructions", "instructions"},
        {"{\"model\":\"m\",\"input\":\"x\",\"top_logprobs\":2}", "top_logprobs", "not supported"},
        {"{\"model\":\"m\",\"input\":\"x\",\"stop\":5}", "stop", "stop must be"},
        {"{\"model\":\"m\",\"input\":\"x\",\"stop\":[\"\"]}", "stop", "stop must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        serve_chat_request r;
        cJSON *echo = NULL;
        serve_openai_fault f;
        cn_status st = serve_responses_parse(cases[i].body, strlen(cases[i].body), &r, &echo, &f);
        CHECKF(st == CN_ERR_ARG && f.status == 400, "case %zu: status %d/%d (%s)", i, (int)st, f.status, f.error.msg);
        CHECKF(strcmp(f.param, cases[i].param) == 0, "case %zu: param \"%s\", want \"%s\"", i, f.param, cases[i].param);
        CHECKF(strstr(f.error.msg, cases[i].words) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, f.error.msg, cases[i].words);
        serve_chat_request_free(&r);
        cJSON_Delete(echo);
    }
}

static serve_delta text_delta(serve_delta_kind kind, const char *text) {
    return (serve_delta){.kind = kind, .text = text, .len = strlen(text), .call_index = -1};
}

static void feed(serve_responses_reply *r, cJSON *events, serve_finish finish) {
    serve_delta deltas[] = {
        text_delta(SERVE_DELTA_REASONING, "Need weather."),
        text_delta(SERVE_DELTA_CONTENT, "Checking"),
        text_delta(SERVE_DELTA_CONTENT, " now."),
        {.kind = SERVE_DELTA_TOOL_CALL, .text = "get_weather", .len = 11, .call_index = 0, .call_id = "call_abc"},
        {.kind = SERVE_DELTA_TOOL_ARGUMENTS, .text = "{\"city\": \"Paris\"}", .len = 17, .call_index = 0, .call_id = "call_abc"},
        {.kind = SERVE_DELTA_FINISH, .text = "", .call_index = -1, .finish = finish,
         .usage = {.prompt_tokens = 50, .cached_tokens = 32, .completion_tokens = 20, .reasoning_tokens = 4}},
    };
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) CHECK(serve_responses_reply_add(r, &deltas[i], events));
}

#define ECHO "\"instructions\":null,\"tools\":[],\"tool_choice\":\"auto\",\"parallel_tool_calls\":true,\"temperature\":1,\"top_p\":1," \
             "\"max_output_tokens\":null,\"reasoning\":null,\"metadata\":{},\"store\":false"

#define OUTPUT(status)                                                                                                      \
    "[{\"id\":\"rs_abc_0\",\"type\":\"reasoning\",\"summary\":[],\"content\":[{\"type\":\"reasoning_text\",\"text\":\"Need weather.\"}]," \
    "\"status\":\"completed\"},"                                                                                            \
    "{\"id\":\"msg_abc_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Checking now.\"," \
    "\"annotations\":[],\"logprobs\":[]}],\"status\":\"completed\"},"                                                     \
    "{\"id\":\"fc_abc_2\",\"type\":\"function_call\",\"call_id\":\"call_abc\",\"name\":\"get_weather\","                  \
    "\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\",\"status\":\"" status "\"}]"

#define USAGE "{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":32,\"cache_write_tokens\":0},\"output_tokens\":20," \
              "\"output_tokens_details\":{\"reasoning_tokens\":4},\"total_tokens\":70}"

static void test_response_object(void) {
    const char *echo_text = "{" ECHO "}";
    cJSON *echo = cJSON_Parse(echo_text);
    serve_responses_meta meta = {.id = "resp_abc", .model = "deepseek-v4", .created_at = 1741476542, .echo = echo};
    serve_responses_reply r = {.meta = &meta};
    feed(&r, NULL, SERVE_FINISH_TOOL_CALLS);
    cJSON *o = serve_responses_object(&r);
    check_json(o,
               "{\"id\":\"resp_abc\",\"object\":\"response\",\"created_at\":1741476542,\"status\":\"completed\",\"error\":null,"
               "\"incomplete_details\":null,\"model\":\"deepseek-v4\",\"output\":" OUTPUT("completed") "," ECHO ",\"usage\":" USAGE "}",
               "completed response");
    cJSON_Delete(o);
    serve_responses_reply_free(&r);

    /* max_output_tokens: status incomplete, the item being written incomplete. */
    r = (serve_responses_reply){.meta = &meta};
    feed(&r, NULL, SERVE_FINISH_LENGTH);
    o = serve_responses_object(&r);
    check_json(o,
               "{\"id\":\"resp_abc\",\"object\":\"response\",\"created_at\":1741476542,\"status\":\"incomplete\",\"error\":null,"
               "\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"model\":\"deepseek-v4\",\"output\":" OUTPUT("incomplete") ","
               ECHO ",\"usage\":" USAGE "}",
               "incomplete response");
    cJSON_Delete(o);
    serve_responses_reply_free(&r);
    cJSON_Delete(echo);
}

static void test_stream_events(void) {
    serve_responses_meta meta = {.id = "resp_abc", .model = "deepseek-v4", .created_at = 1741476542, .echo = NULL};
    serve_responses_reply r = {.meta = &meta};
    cJSON *events = cJSON_CreateArray();
    CHECK(serve_responses_begin(&r, events));
    feed(&r, events, SERVE_FINISH_TOOL_CALLS);
#define BARE "\"id\":\"resp_abc\",\"object\":\"response\",\"created_at\":1741476542,\"error\":null,\"incomplete_details\":null,\"model\":\"deepseek-v4\""
    check_json(events,
               "[{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{" BARE ",\"status\":\"in_progress\",\"output\":[],\"usage\":null}},"
               "{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{" BARE ",\"status\":\"in_progress\",\"output\":[],\"usage\":null}},"
               "{\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,"
               "\"item\":{\"id\":\"rs_abc_0\",\"type\":\"reasoning\",\"summary\":[],\"content\":[],\"status\":\"in_progress\"}},"
               "{\"type\":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\"rs_abc_0\",\"output_index\":0,\"content_index\":0,"
               "\"part\":{\"type\":\"reasoning_text\",\"text\":\"\"}},"
               "{\"type\":\"response.reasoning_text.delta\",\"sequence_number\":4,\"item_id\":\"rs_abc_0\",\"output_index\":0,\"content_index\":0,"
               "\"delta\":\"Need weather.\"},"
               "{\"type\":\"response.reasoning_text.done\",\"sequence_number\":5,\"item_id\":\"rs_abc_0\",\"output_index\":0,\"content_index\":0,"
               "\"text\":\"Need weather.\"},"
               "{\"type\":\"response.content_part.done\",\"sequence_number\":6,\"item_id\":\"rs_abc_0\",\"output_index\":0,\"content_index\":0,"
               "\"part\":{\"type\":\"reasoning_text\",\"text\":\"Need weather.\"}},"
               "{\"type\":\"response.output_item.done\",\"sequence_number\":7,\"output_index\":0,\"item\":{\"id\":\"rs_abc_0\",\"type\":\"reasoning\","
               "\"summary\":[],\"content\":[{\"type\":\"reasoning_text\",\"text\":\"Need weather.\"}],\"status\":\"completed\"}},"
               "{\"type\":\"response.output_item.added\",\"sequence_number\":8,\"output_index\":1,"
               "\"item\":{\"id\":\"msg_abc_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"status\":\"in_progress\"}},"
               "{\"type\":\"response.content_part.added\",\"sequence_number\":9,\"item_id\":\"msg_abc_1\",\"output_index\":1,\"content_index\":0,"
               "\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[],\"logprobs\":[]}},"
               "{\"type\":\"response.output_text.delta\",\"sequence_number\":10,\"item_id\":\"msg_abc_1\",\"output_index\":1,\"content_index\":0,"
               "\"delta\":\"Checking\",\"logprobs\":[]},"
               "{\"type\":\"response.output_text.delta\",\"sequence_number\":11,\"item_id\":\"msg_abc_1\",\"output_index\":1,\"content_index\":0,"
               "\"delta\":\" now.\",\"logprobs\":[]},"
               "{\"type\":\"response.output_text.done\",\"sequence_number\":12,\"item_id\":\"msg_abc_1\",\"output_index\":1,\"content_index\":0,"
               "\"text\":\"Checking now.\",\"logprobs\":[]},"
               "{\"type\":\"response.content_part.done\",\"sequence_number\":13,\"item_id\":\"msg_abc_1\",\"output_index\":1,\"content_index\":0,"
               "\"part\":{\"type\":\"output_text\",\"text\":\"Checking now.\",\"annotations\":[],\"logprobs\":[]}},"
               "{\"type\":\"response.output_item.done\",\"sequence_number\":14,\"output_index\":1,\"item\":{\"id\":\"msg_abc_1\",\"type\":\"message\","
               "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Checking now.\",\"annotations\":[],\"logprobs\":[]}],"
               "\"status\":\"completed\"}},"
               "{\"type\":\"response.output_item.added\",\"sequence_number\":15,\"output_index\":2,\"item\":{\"id\":\"fc_abc_2\","
               "\"type\":\"function_call\",\"call_id\":\"call_abc\",\"name\":\"get_weather\",\"arguments\":\"\",\"status\":\"in_progress\"}},"
               "{\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":16,\"item_id\":\"fc_abc_2\",\"output_index\":2,"
               "\"delta\":\"{\\\"city\\\": \\\"Paris\\\"}\"},"
               "{\"type\":\"response.function_call_arguments.done\",\"sequence_number\":17,\"item_id\":\"fc_abc_2\",\"output_index\":2,"
               "\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\"},"
               "{\"type\":\"response.output_item.done\",\"sequence_number\":18,\"output_index\":2,\"item\":{\"id\":\"fc_abc_2\","
               "\"type\":\"function_call\",\"call_id\":\"call_abc\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\": \\\"Paris\\\"}\","
               "\"status\":\"completed\"}},"
               "{\"type\":\"response.completed\",\"sequence_number\":19,\"response\":{" BARE ",\"status\":\"completed\",\"output\":" OUTPUT("completed")
               ",\"usage\":" USAGE "}}]",
               "stream events");
    cJSON_Delete(events);
    serve_responses_reply_free(&r);

    /* A length finish ends with response.incomplete. */
    r = (serve_responses_reply){.meta = &meta};
    events = cJSON_CreateArray();
    serve_delta text = text_delta(SERVE_DELTA_CONTENT, "Hi");
    serve_delta fin = {.kind = SERVE_DELTA_FINISH, .text = "", .call_index = -1, .finish = SERVE_FINISH_LENGTH,
                       .usage = {.prompt_tokens = 3, .completion_tokens = 1}};
    CHECK(serve_responses_reply_add(&r, &text, events) && serve_responses_reply_add(&r, &fin, events));
    const cJSON *last = cJSON_GetArrayItem(events, cJSON_GetArraySize(events) - 1);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(last, "type");
    CHECK(cJSON_IsString(type) && strcmp(type->valuestring, "response.incomplete") == 0);
    cJSON_Delete(events);
    serve_responses_reply_free(&r);
}

int main(void) {
    test_parse_items();
    test_parse_errors();
    test_response_object();
    test_stream_events();
    return cn_test_finish("test_serve_responses");
}
