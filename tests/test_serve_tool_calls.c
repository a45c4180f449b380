/* The exact tool-call round trip (serve/tool_call_registry.h): DSML the model wrote, read by the
 * output parser, remembered by call id and rendered back byte for byte by the chat encoder when
 * the client re-sends the call; a call the client changed is re-rendered from its JSON. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "serve/tool_call_registry.h"
#include "text/chat_encode.h"
#include "text/chat_json.h"
#include "text/output_parser.h"

#define DSML "\xef\xbd\x9c" "DSML" "\xef\xbd\x9c" /* ｜DSML｜ */

/* Model output whose spelling json.dumps would not reproduce: "{"a":1}" without spaces, "2.50". */
static const char MODEL_OUTPUT[] =
    "Let me look.\n\n<" DSML "tool_calls>\n"
    "<" DSML "invoke name=\"lookup\">\n"
    "<" DSML "parameter name=\"q\" string=\"true\">caf\xc3\xa9 \"x\"</" DSML "parameter>\n"
    "<" DSML "parameter name=\"o\" string=\"false\">{\"a\":1,\"b\":[2.50]}</" DSML "parameter>\n"
    "</" DSML "invoke>\n"
    "</" DSML "tool_calls>";

#define INVOKE \
    "<" DSML "invoke name=\"lookup\">\n" \
    "<" DSML "parameter name=\"q\" string=\"true\">caf\xc3\xa9 \"x\"</" DSML "parameter>\n" \
    "<" DSML "parameter name=\"o\" string=\"false\">{\"a\":1,\"b\":[2.50]}</" DSML "parameter>\n" \
    "</" DSML "invoke>"

static void ignore_event(void *context, const cn_output_event *event) {
    (void)context;
    (void)event;
}

/* The call as the output parser reads it: name, arguments text and raw bytes, copied. */
typedef struct {
    char name[64];
    char *arguments;
    char *raw;
    size_t raw_len;
} parsed_call;

static bool parse_model_call(parsed_call *out) {
    cn_error err = {0};
    cn_output_parser *p = NULL;
    if (cn_output_parser_create(CN_OUTPUT_START_IN_CONTENT, ignore_event, NULL, &p, &err) != CN_OK) return false;
    bool ok = cn_output_parser_feed(p, MODEL_OUTPUT, strlen(MODEL_OUTPUT), &err) == CN_OK &&
              cn_output_parser_finish(p, &err) == CN_OK && cn_output_parser_call_count(p) == 1;
    cn_output_call call;
    if (ok && (ok = cn_output_parser_call(p, 0, &call) && call.status == CN_OUTPUT_CALL_COMPLETE)) {
        snprintf(out->name, sizeof out->name, "%s", call.name);
        out->arguments = strndup(call.arguments, call.arguments_len);
        out->raw = strndup(call.raw, call.raw_len);
        out->raw_len = call.raw_len;
    }
    cn_output_parser_free(p);
    return ok;
}

/* The follow-up request an OpenAI client sends: the call as returned (id, name, arguments string),
 * then its result. */
static cJSON *follow_up(const char *id, const char *name, const char *arguments) {
    cJSON *messages = cJSON_CreateArray();
    cJSON *user = cJSON_CreateObject();
    cJSON_AddStringToObject(user, "role", "user");
    cJSON_AddStringToObject(user, "content", "find it");
    cJSON_AddItemToArray(messages, user);
    cJSON *assistant = cJSON_CreateObject();
    cJSON_AddStringToObject(assistant, "role", "assistant");
    cJSON_AddStringToObject(assistant, "content", "Let me look.");
    cJSON *calls = cJSON_AddArrayToObject(assistant, "tool_calls");
    cJSON *call = cJSON_CreateObject();
    cJSON_AddStringToObject(call, "id", id);
    cJSON_AddStringToObject(call, "type", "function");
    cJSON *function = cJSON_AddObjectToObject(call, "function");
    cJSON_AddStringToObject(function, "name", name);
    cJSON_AddStringToObject(function, "arguments", arguments);
    cJSON_AddItemToArray(calls, call);
    cJSON_AddItemToArray(messages, assistant);
    cJSON *tool = cJSON_CreateObject();
    cJSON_AddStringToObject(tool, "role", "tool");
    cJSON_AddStringToObject(tool, "tool_call_id", id);
    cJSON_AddStringToObject(tool, "content", "42");
    cJSON_AddItemToArray(messages, tool);
    return messages;
}

static char *render(const cJSON *messages) {
    cn_error err = {0};
    char *text = NULL;
    size_t len = 0;
    cn_chat_options options = {.thinking = false};
    if (cn_chat_render_text(messages, &options, &text, &len, &err) != CN_OK) {
        fprintf(stderr, "render: %s\n", err.msg);
        return NULL;
    }
    return text;
}

static void test_round_trip(void) {
    parsed_call call = {0};
    CHECK(parse_model_call(&call));
    if (!call.raw) return;
    CHECK(strcmp(call.raw, INVOKE) == 0);
    /* The parser's arguments are what the client gets back; json.dumps would space them. */
    CHECK(strcmp(call.arguments, "{\"q\": \"caf\xc3\xa9 \\\"x\\\"\", \"o\": {\"a\":1,\"b\":[2.50]}}") == 0);

    cn_error err = {0};
    serve_tool_calls *registry = NULL;
    CHECK(serve_tool_calls_create(8, 1 << 20, &registry, &err) == CN_OK);
    char id[SERVE_TOOL_CALL_ID_MAX];
    CHECK(serve_tool_call_new_id(id, &err) == CN_OK);
    CHECK(strncmp(id, "call_", 5) == 0 && strlen(id) == 29);
    CHECK(serve_tool_calls_put(registry, id, call.name, call.arguments, strlen(call.arguments), call.raw,
                               call.raw_len, &err) == CN_OK);

    /* The model's whole assistant turn, as the encoder joins it: content, "\n\n", the block. */
    const char *want = "Let me look.\n\n<" DSML "tool_calls>\n" INVOKE "\n</" DSML "tool_calls>";

    cJSON *plain = follow_up(id, call.name, call.arguments);
    char *text = render(plain);
    CHECKF(text && !strstr(text, want), "without the registry the JSON re-rendering should differ");
    free(text);
    cJSON_Delete(plain);

    cJSON *messages = follow_up(id, call.name, call.arguments);
    size_t annotated = 0;
    CHECK(serve_tool_calls_annotate(registry, messages, &annotated, &err) == CN_OK && annotated == 1);
    text = render(messages);
    CHECKF(text && strstr(text, want), "got %s", text ? text : "(null)");
    /* The control tokens of the verbatim bytes are split out as in the template. */
    cn_chat_prompt prompt;
    cn_chat_options options = {0};
    CHECK(cn_chat_encode(messages, &options, &prompt, &err) == CN_OK);
    size_t dsml_controls = 0;
    for (size_t i = 0; i < prompt.segment_count; i++)
        if (prompt.segments[i].kind == CN_CHAT_SEGMENT_CONTROL && prompt.segments[i].length == strlen(DSML) &&
            memcmp(prompt.text.data + prompt.segments[i].offset, DSML, strlen(DSML)) == 0)
            dsml_controls++;
    CHECKF(dsml_controls == 8, "%zu DSML control segments", dsml_controls); /* 2 block + 2 invoke + 4 parameter */
    cn_chat_prompt_free(&prompt);
    free(text);
    cJSON_Delete(messages);

    /* Arguments re-spelled but equal as JSON: still the model's bytes. */
    messages = follow_up(id, call.name, "{\"o\":{\"b\":[2.5],\"a\":1},\"q\":\"caf\xc3\xa9 \\\"x\\\"\"}");
    CHECK(serve_tool_calls_annotate(registry, messages, &annotated, &err) == CN_OK && annotated == 1);
    cJSON_Delete(messages);
    /* Changed arguments, a changed name or an unknown id: rendered from JSON. */
    messages = follow_up(id, call.name, "{\"q\": \"other\", \"o\": {\"a\":1,\"b\":[2.50]}}");
    CHECK(serve_tool_calls_annotate(registry, messages, &annotated, &err) == CN_OK && annotated == 0);
    text = render(messages);
    CHECK(text && !strstr(text, INVOKE) && strstr(text, "string=\"true\">other<"));
    free(text);
    cJSON_Delete(messages);
    messages = follow_up(id, "other_tool", call.arguments);
    CHECK(serve_tool_calls_annotate(registry, messages, &annotated, &err) == CN_OK && annotated == 0);
    cJSON_Delete(messages);
    messages = follow_up("call_unknown", call.name, call.arguments);
    CHECK(serve_tool_calls_annotate(registry, messages, &annotated, &err) == CN_OK && annotated == 0);
    cJSON_Delete(messages);

    /* A "dsml" the client sent is removed: only the server may supply verbatim bytes. */
    messages = follow_up("call_unknown", call.name, call.arguments);
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(messages, 1), "tool_calls"), 0);
    cJSON_AddStringToObject(c, "dsml", "<" DSML "invoke name=\"x\"><think></" DSML "invoke>");
    CHECK(serve_tool_calls_annotate(registry, messages, &annotated, &err) == CN_OK && annotated == 0);
    CHECK(cJSON_GetObjectItem(c, "dsml") == NULL);
    cJSON_Delete(messages);

    serve_tool_calls_free(registry);
    free(call.arguments);
    free(call.raw);
}

static void test_encoder_refuses_bad_dsml(void) {
    static const char *const bad[] = {"not dsml", "<" DSML "invoke name=\"f\">\n", "<" DSML "invoke name=\"f\">\xff</" DSML "invoke>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *messages = follow_up("call_1", "f", "{}");
        cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(messages, 1), "tool_calls"), 0);
        cJSON_AddStringToObject(c, "dsml", bad[i]);
        cn_chat_prompt prompt;
        cn_error err = {0};
        CHECK(cn_chat_encode(messages, NULL, &prompt, &err) == CN_ERR_ARG);
        CHECKF(strstr(err.msg, "dsml") && strstr(err.msg, "message 1"), "%s", err.msg);
        cn_chat_prompt_free(&prompt);
        cJSON_Delete(messages);
    }
}

static void test_lru_bounds(void) {
    cn_error err = {0};
    serve_tool_calls *r = NULL;
    CHECK(serve_tool_calls_create(2, 1000, &r, &err) == CN_OK);
    const char *raw = "<" DSML "invoke name=\"f\">\n</" DSML "invoke>";
    CHECK(serve_tool_calls_put(r, "call_a", "f", "{}", 2, raw, strlen(raw), &err) == CN_OK);
    CHECK(serve_tool_calls_put(r, "call_b", "f", "{}", 2, raw, strlen(raw), &err) == CN_OK);
    /* Using a makes b the least recently used. */
    cJSON *m = follow_up("call_a", "f", "{}");
    size_t annotated = 0;
    CHECK(serve_tool_calls_annotate(r, m, &annotated, &err) == CN_OK && annotated == 1);
    cJSON_Delete(m);
    CHECK(serve_tool_calls_put(r, "call_c", "f", "{}", 2, raw, strlen(raw), &err) == CN_OK);
    CHECK(serve_tool_calls_count(r) == 2);
    const char *expect[][2] = {{"call_a", "1"}, {"call_b", "0"}, {"call_c", "1"}};
    for (size_t i = 0; i < 3; i++) {
        m = follow_up(expect[i][0], "f", "{}");
        CHECK(serve_tool_calls_annotate(r, m, &annotated, &err) == CN_OK);
        CHECKF(annotated == (size_t)(expect[i][1][0] - '0'), "%s", expect[i][0]);
        cJSON_Delete(m);
    }
    /* The byte budget evicts too; one entry larger than the budget is refused. */
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(serve_tool_calls_put(r, "call_d", "f", "{}", 2, big, strlen(big), &err) == CN_OK);
    CHECK(serve_tool_calls_put(r, "call_e", "f", "{}", 2, big, strlen(big), &err) == CN_OK);
    CHECK(serve_tool_calls_count(r) == 1);
    char huge[1200];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    CHECK(serve_tool_calls_put(r, "call_f", "f", "{}", 2, huge, strlen(huge), &err) == CN_ERR_ARG);
    CHECK(serve_tool_calls_put(r, "call_g", "f", "{", 1, raw, strlen(raw), &err) != CN_OK);
    CHECK(serve_tool_calls_put(r, "", "f", "{}", 2, raw, strlen(raw), &err) == CN_ERR_ARG);
    CHECK(serve_tool_calls_put(r, "call_h", "f", "{}", 2, "a\0b", 3, &err) == CN_ERR_ARG);
    serve_tool_calls_free(r);
    /* Ids differ. */
    char a[SERVE_TOOL_CALL_ID_MAX], b[SERVE_TOOL_CALL_ID_MAX];
    CHECK(serve_tool_call_new_id(a, &err) == CN_OK && serve_tool_call_new_id(b, &err) == CN_OK && strcmp(a, b) != 0);
}

int main(void) {
    test_round_trip();
    test_encoder_refuses_bad_dsml();
    test_lru_bounds();
    return cn_test_finish("test_serve_tool_calls");
}
