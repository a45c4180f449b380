/* Chat encoding against DeepSeek's V4 reference encoder: every case in tests/fixtures/chat/cases.json
 * (made by scripts/make_chat_fixtures.py) must render to the same bytes, and every invalid case must
 * come back as an error value. */
#include "chat_case_options.h"
#include "harness.h"

#include "text/chat_encode.h"
#include "text/chat_json.h"
#include "text/chat_tokens.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fixture strings hold U+0000 as C0 80 (chat_utf8.h); the prompt holds real NUL bytes. */
static size_t decode_stored_nul(const char *s, char *out) {
    size_t n = 0;
    for (size_t i = 0; s[i]; i++) {
        if ((unsigned char)s[i] == 0xC0 && (unsigned char)s[i + 1] == 0x80) {
            out[n++] = '\0';
            i++;
        } else {
            out[n++] = s[i];
        }
    }
    return n;
}

static const char *const CONTROL_TOKENS[] = {
    CN_CHAT_BOS, CN_CHAT_EOS, CN_CHAT_USER, CN_CHAT_ASSISTANT, CN_CHAT_LATEST_REMINDER, CN_CHAT_THINK_START,
    CN_CHAT_THINK_END, CN_CHAT_DSML, CN_CHAT_TASK_ACTION, CN_CHAT_TASK_QUERY, CN_CHAT_TASK_AUTHORITY,
    CN_CHAT_TASK_DOMAIN, CN_CHAT_TASK_TITLE, CN_CHAT_TASK_READ_URL};

/* Segments tile the text in order, and every control segment is a known control token. */
static bool segments_consistent(const cn_chat_prompt *p) {
    size_t at = 0;
    for (size_t i = 0; i < p->segment_count; i++) {
        const cn_chat_segment *s = &p->segments[i];
        if (s->offset != at || s->length == 0) return false;
        if (s->kind == CN_CHAT_SEGMENT_CONTROL) {
            bool known = false;
            for (size_t t = 0; t < sizeof CONTROL_TOKENS / sizeof CONTROL_TOKENS[0]; t++)
                known |= strlen(CONTROL_TOKENS[t]) == s->length && memcmp(p->text.data + s->offset, CONTROL_TOKENS[t], s->length) == 0;
            if (!known) return false;
        } else if (i > 0 && p->segments[i - 1].kind == CN_CHAT_SEGMENT_TEXT) {
            return false; /* adjacent text segments should have been merged */
        }
        at += s->length;
    }
    return at == p->text.length;
}

static void report_mismatch(const char *name, const char *got, size_t got_len, const char *want, size_t want_len) {
    size_t i = 0;
    while (i < got_len && i < want_len && got[i] == want[i]) i++;
    size_t from = i > 60 ? i - 60 : 0;
    fprintf(stderr, "%s: differs at byte %zu (got %zu bytes, want %zu)\n  got:  ...%.*s\n  want: ...%.*s\n", name, i,
            got_len, want_len, (int)(got_len - from < 140 ? got_len - from : 140), got + from,
            (int)(want_len - from < 140 ? want_len - from : 140), want + from);
}

static void test_golden_cases(void) {
    size_t size;
    char *text = cn_test_read_file("tests/fixtures/chat/cases.json", &size);
    CHECKF(text, "tests/fixtures/chat/cases.json missing");
    if (!text) return;
    cJSON *cases = NULL;
    cn_error err = {0};
    CHECKF(cn_chat_json_parse(text, size, &cases, &err) == CN_OK, "%s", err.msg);
    free(text);
    if (!cases) return;
    int rendered = 0, mismatches = 0, refused = 0, accepted_bad = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "name")->valuestring;
        const cJSON *messages = cJSON_GetObjectItemCaseSensitive(c, "messages");
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(c, "expected");
        cn_chat_options options;
        bool options_ok = cn_test_chat_options(cJSON_GetObjectItemCaseSensitive(c, "options"), &options);
        cn_chat_prompt prompt;
        cn_error e = {0};
        cn_status st = options_ok ? cn_chat_encode(messages, &options, &prompt, &e) : CN_ERR_ARG;
        if (!options_ok) memset(&prompt, 0, sizeof prompt);
        if (expected) {
            rendered++;
            char *want = malloc(strlen(expected->valuestring) + 1);
            size_t want_len = decode_stored_nul(expected->valuestring, want);
            if (st != CN_OK) {
                fprintf(stderr, "%s: refused: %s\n", name, e.msg);
                mismatches++;
            } else if (prompt.text.length != want_len || memcmp(prompt.text.data, want, want_len) != 0) {
                report_mismatch(name, prompt.text.data, prompt.text.length, want, want_len);
                mismatches++;
            } else {
                CHECKF(segments_consistent(&prompt), "%s: segments do not tile the text", name);
                char *flat;
                size_t flat_len;
                CHECK(cn_chat_render_text(messages, &options, &flat, &flat_len, NULL) == CN_OK);
                CHECKF(flat && flat_len == want_len && memcmp(flat, want, want_len) == 0, "%s: render_text", name);
                free(flat);
            }
            free(want);
        } else {
            if (st == CN_OK) {
                fprintf(stderr, "%s: accepted invalid input\n", name);
                accepted_bad++;
            } else {
                refused++;
                CHECKF(!options_ok || e.msg[0], "%s: error without a message", name);
            }
        }
        cn_chat_prompt_free(&prompt);
    }
    fprintf(stderr, "chat golden cases: %d rendered, %d mismatches; %d invalid inputs refused, %d accepted\n",
            rendered, mismatches, refused, accepted_bad);
    CHECK(rendered >= 300);
    CHECK(mismatches == 0);
    CHECK(refused >= 25);
    CHECK(accepted_bad == 0);
    cJSON_Delete(cases);
}

static void test_float_repr(void) {
    static const struct {
        double value;
        const char *repr;
    } cases[] = {
        {1.0, "1.0"}, {0.1, "0.1"}, {-0.0, "-0.0"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
        {1e-5, "1e-05"}, {1e-4, "0.0001"}, {123456789.123, "123456789.123"}, {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"}, {2.5e-7, "2.5e-07"}, {3e20, "3e+20"},
        {0.30000000000000004, "0.30000000000000004"}, {1.5, "1.5"}, {100.0, "100.0"}, {-2.5e-300, "-2.5e-300"},
        {NAN, "NaN"}, {INFINITY, "Infinity"}, {-INFINITY, "-Infinity"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[48];
        cn_chat_python_float_repr(cases[i].value, buf, sizeof buf);
        CHECKF(strcmp(buf, cases[i].repr) == 0, "repr: got %s, want %s", buf, cases[i].repr);
    }
}

/* Trees built by cJSON_Parse have no number spellings: integral values print as ints. */
static void test_cjson_parse_input(void) {
    cJSON *messages = cJSON_Parse("[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"\","
                                  "\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                                  "\"arguments\":{\"n\":3,\"x\":0.5,\"s\":\"t\"}}}]}]");
    char *text;
    size_t length;
    CHECK(cn_chat_render_text(messages, NULL, &text, &length, NULL) == CN_OK);
    const char *want = CN_CHAT_BOS CN_CHAT_USER "Hi" CN_CHAT_ASSISTANT CN_CHAT_THINK_END "\n\n<" CN_CHAT_DSML
        "tool_calls>\n<" CN_CHAT_DSML "invoke name=\"f\">\n<" CN_CHAT_DSML "parameter name=\"n\" string=\"false\">3</" CN_CHAT_DSML
        "parameter>\n<" CN_CHAT_DSML "parameter name=\"x\" string=\"false\">0.5</" CN_CHAT_DSML "parameter>\n<" CN_CHAT_DSML
        "parameter name=\"s\" string=\"true\">t</" CN_CHAT_DSML "parameter>\n</" CN_CHAT_DSML "invoke>\n</" CN_CHAT_DSML
        "tool_calls>" CN_CHAT_EOS;
    CHECKF(text && strcmp(text, want) == 0, "got %s", text ? text : "(null)");
    free(text);
    cJSON_Delete(messages);
}

static void test_bad_api_input(void) {
    cn_chat_prompt prompt;
    cn_error err = {0};
    CHECK(cn_chat_encode(NULL, NULL, &prompt, &err) == CN_ERR_ARG);
    cn_chat_prompt_free(&prompt);
    cJSON *messages = cJSON_Parse("[{\"role\":\"user\",\"content\":\"\\u00ff\"}]");
    /* Invalid UTF-8 planted in a cJSON string (cJSON itself does not check). */
    cJSON_SetValuestring(cJSON_GetArrayItem(messages, 0)->child->next, "bad \xff byte");
    CHECK(cn_chat_encode(messages, NULL, &prompt, &err) == CN_ERR_ARG);
    CHECK(strstr(err.msg, "UTF-8") != NULL);
    cn_chat_prompt_free(&prompt);
    cJSON_Delete(messages);
    cn_chat_options options = {.reasoning_effort = (cn_chat_effort)9};
    messages = cJSON_Parse("[]");
    CHECK(cn_chat_encode(messages, &options, &prompt, &err) == CN_ERR_ARG);
    cn_chat_prompt_free(&prompt);
    cJSON_Delete(messages);
    cJSON *parsed;
    CHECK(cn_chat_json_parse("[1, 2", 5, &parsed, &err) == CN_ERR_FORMAT);
    CHECK(cn_chat_json_parse("\"\\ud800\"", 8, &parsed, &err) == CN_ERR_FORMAT);
    char deep[1200];
    memset(deep, '[', sizeof deep);
    CHECK(cn_chat_json_parse(deep, sizeof deep, &parsed, &err) == CN_ERR_FORMAT);
}

int main(void) {
    test_float_repr();
    test_cjson_parse_input();
    test_bad_api_input();
    test_golden_cases();
    return cn_test_finish("test_chat_encode");
}
