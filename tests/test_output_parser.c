/* The DeepSeek-V4 output parser against a table of model outputs: every case is fed whole,
 * split at every byte boundary, split at every pair of boundaries (short cases), and one
 * byte at a time; after joining adjacent deltas all runs must give the table's events.
 * Completed calls' arguments must parse as JSON objects (cJSON, an independent parser), and
 * raw DSML bytes must be retrievable per call. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "text/output_parser.h"
#include "text/output_parser_json.h"
#include "text/output_parser_utf8.h"

#define D "｜DSML｜"
#define BLOCK_OPEN "\n\n<" D "tool_calls>\n"
#define BLOCK_CLOSE "</" D "tool_calls>"
#define INVOKE(name) "<" D "invoke name=\"" name "\">\n"
#define INVOKE_END "</" D "invoke>\n"
#define STR(k, v) "<" D "parameter name=\"" k "\" string=\"true\">" v "</" D "parameter>\n"
#define JSON(k, v) "<" D "parameter name=\"" k "\" string=\"false\">" v "</" D "parameter>\n"

/* Expected events: R reasoning, C content, S call start (text = name), A arguments, E call
 * end, X error (text = a substring of the message). END is implied at the end. */
typedef struct {
    char kind;
    int index;
    const char *text;
} expected_event;

typedef struct {
    const char *name;
    bool reasoning; /* start inside <think> */
    const char *input;
    expected_event events[16];
} parse_case;

static const parse_case cases[] = {
    {"plain content", false, "Hello, world!", {{'C', -1, "Hello, world!"}}},
    {"empty message", false, "", {{0}}},
    {"empty reasoning", true, "</think>Hi", {{'C', -1, "Hi"}}},
    {"reasoning then content", true, "Let me think.\nOK.</think>The answer is 42.",
     {{'R', -1, "Let me think.\nOK."}, {'C', -1, "The answer is 42."}}},
    {"reasoning only (length limit)", true, "still thinking about <it", {{'R', -1, "still thinking about <it"}}},
    {"repeated <think> dropped", true, "<think>abc</think>x", {{'R', -1, "abc"}, {'C', -1, "x"}}},
    {"<think> in content reopens reasoning", false, "a<think>b</think>c",
     {{'C', -1, "a"}, {'R', -1, "b"}, {'C', -1, "c"}}},
    {"stray </think> in content dropped", false, "a</think>b", {{'C', -1, "ab"}}},
    {"bilingual content", false, "今日天氣好好，we can go 行山 tomorrow 😀",
     {{'C', -1, "今日天氣好好，we can go 行山 tomorrow 😀"}}},
    {"content with newlines and a lone '<'", false, "a\n\nb\n<c> <｜x\n\n", {{'C', -1, "a\n\nb\n<c> <｜x\n\n"}}},
    {"partial marker at the end is text", false, "abc\n\n<｜DSM", {{'C', -1, "abc\n\n<｜DSM"}}},
    {"one call",
     false,
     "Let me check." BLOCK_OPEN INVOKE("get_weather") STR("city", "香港") JSON("days", "3") INVOKE_END BLOCK_CLOSE,
     {{'C', -1, "Let me check."},
      {'S', 0, "get_weather"},
      {'A', 0, "{\"city\": \"香港\", \"days\": 3}"},
      {'E', 0, NULL}}},
    {"call without content", false, BLOCK_OPEN INVOKE("ping") STR("host", "example.org") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "ping"}, {'A', 0, "{\"host\": \"example.org\"}"}, {'E', 0, NULL}}},
    {"reasoning, content and a call",
     true,
     "I should search.</think>Searching." BLOCK_OPEN INVOKE("search") STR("q", "DeepSeek V4") INVOKE_END BLOCK_CLOSE,
     {{'R', -1, "I should search."},
      {'C', -1, "Searching."},
      {'S', 0, "search"},
      {'A', 0, "{\"q\": \"DeepSeek V4\"}"},
      {'E', 0, NULL}}},
    {"three calls, one without parameters",
     false,
     BLOCK_OPEN INVOKE("a") STR("x", "1") INVOKE_END INVOKE("now") "\n" INVOKE_END INVOKE("c") JSON("list", "[1, 2]")
         JSON("flag", "true") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "a"},
      {'A', 0, "{\"x\": \"1\"}"},
      {'E', 0, NULL},
      {'S', 1, "now"},
      {'A', 1, "{}"},
      {'E', 1, NULL},
      {'S', 2, "c"},
      {'A', 2, "{\"list\": [1, 2], \"flag\": true}"},
      {'E', 2, NULL}}},
    {"call without parameters, single newline", false, BLOCK_OPEN INVOKE("now") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "now"}, {'A', 0, "{}"}, {'E', 0, NULL}}},
    {"Cantonese and Chinese arguments",
     false,
     "好，我幫你查。" BLOCK_OPEN INVOKE("search") STR("query", "今日香港天氣點樣？佢哋話會落雨")
         STR("語言", "粵語") INVOKE_END BLOCK_CLOSE,
     {{'C', -1, "好，我幫你查。"},
      {'S', 0, "search"},
      {'A', 0, "{\"query\": \"今日香港天氣點樣？佢哋話會落雨\", \"語言\": \"粵語\"}"},
      {'E', 0, NULL}}},
    {"nested JSON argument",
     false,
     BLOCK_OPEN INVOKE("filter") JSON("spec", "{\"tags\": [\"a\", {\"b\": null}], \"n\": -1.5e3, \"s\": \"\\u00e9\\n\"}")
         INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "filter"},
      {'A', 0, "{\"spec\": {\"tags\": [\"a\", {\"b\": null}], \"n\": -1.5e3, \"s\": \"\\u00e9\\n\"}}"},
      {'E', 0, NULL}}},
    {"JSON value with surrounding whitespace kept verbatim", false,
     BLOCK_OPEN INVOKE("f") JSON("x", " [1,2]\n") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'A', 0, "{\"x\":  [1,2]\n}"}, {'E', 0, NULL}}},
    {"string value escaped for JSON",
     false,
     BLOCK_OPEN INVOKE("run") STR("code", "print(\"hi\")\n\tpath\\x\x01 </div> a<b") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "run"},
      {'A', 0, "{\"code\": \"print(\\\"hi\\\")\\n\\tpath\\\\x\\u0001 </div> a<b\"}"},
      {'E', 0, NULL}}},
    {"string value that looks like JSON stays a string", false,
     BLOCK_OPEN INVOKE("f") STR("n", "42") STR("o", "{\"a\":1}") STR("e", "") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'A', 0, "{\"n\": \"42\", \"o\": \"{\\\"a\\\":1}\", \"e\": \"\"}"}, {'E', 0, NULL}}},
    {"DSML inside think is reasoning",
     true,
     "plan:" BLOCK_OPEN INVOKE("f") STR("a", "1") INVOKE_END BLOCK_CLOSE "</think>Done.",
     {{'R', -1, "plan:" BLOCK_OPEN INVOKE("f") STR("a", "1") INVOKE_END BLOCK_CLOSE}, {'C', -1, "Done."}}},
    {"single newline before the block", false,
     "Hi\n<" D "tool_calls>\n" INVOKE("f") INVOKE_END BLOCK_CLOSE,
     {{'C', -1, "Hi"}, {'S', 0, "f"}, {'A', 0, "{}"}, {'E', 0, NULL}}},
    {"three newlines before the block keep one", false, "Hi\n" BLOCK_OPEN INVOKE("f") INVOKE_END BLOCK_CLOSE,
     {{'C', -1, "Hi\n"}, {'S', 0, "f"}, {'A', 0, "{}"}, {'E', 0, NULL}}},
    {"variant block name toolcalls", false,
     "\n\n<" D "toolcalls>\n" INVOKE("f") STR("a", "b") INVOKE_END "</" D "toolcalls>",
     {{'S', 0, "f"}, {'A', 0, "{\"a\": \"b\"}"}, {'E', 0, NULL}}},
    {"variant block closed by tool_calls", false,
     "\n\n<" D "tool>\n" INVOKE("f") INVOKE_END BLOCK_CLOSE, {{'S', 0, "f"}, {'A', 0, "{}"}, {'E', 0, NULL}}},
    {"extra whitespace before the invoke name", false,
     BLOCK_OPEN "<" D "invoke \t name=\"f\">\n" INVOKE_END BLOCK_CLOSE, {{'S', 0, "f"}, {'A', 0, "{}"}, {'E', 0, NULL}}},
    {"empty block", false, "x" BLOCK_OPEN BLOCK_CLOSE, {{'C', -1, "x"}}},
    {"invalid UTF-8 in content becomes U+FFFD", false, "a\xff b\xe4\xbd!\xe4\xbd",
     {{'C', -1, "a\xEF\xBF\xBD b\xEF\xBF\xBD!\xEF\xBF\xBD"}}},
    {"invalid UTF-8 in a string value becomes U+FFFD", false,
     BLOCK_OPEN INVOKE("f") STR("a", "x\xc3(\xed\xa0\x80") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'A', 0, "{\"a\": \"x\xEF\xBF\xBD(\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"}"}, {'E', 0, NULL}}},
    {"think markers inside a value are data", false,
     BLOCK_OPEN INVOKE("note") STR("text", "<think>x</think>") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "note"}, {'A', 0, "{\"text\": \"<think>x</think>\"}"}, {'E', 0, NULL}}},
    {"DSML in unterminated reasoning stays reasoning", true, "hmm" BLOCK_OPEN INVOKE("f") INVOKE_END,
     {{'R', -1, "hmm" BLOCK_OPEN INVOKE("f") INVOKE_END}}},
    /* ---- malformed output */
    {"unknown DSML tag", false, "Hi\n\n<" D "foo>bar", {{'C', -1, "Hi"}, {'X', -1, "unknown DSML tag"}}},
    {"V3.2 block name function_calls", false, "Hi\n\n<" D "function_calls>\n" INVOKE("f") INVOKE_END,
     {{'C', -1, "Hi"}, {'X', -1, "'<" D "function_calls'"}}},
    {"bare invoke without a block", false, "Hi\n\n" INVOKE("f") INVOKE_END,
     {{'C', -1, "Hi"}, {'X', -1, "invoke outside a tool_calls block"}}},
    {"ASCII pipes", false, "Hi\n\n<|DSML|tool_calls>\n", {{'C', -1, "Hi\n\n"}, {'X', -1, "ASCII"}}},
    {"closing DSML tag in content", false, "a</" D "invoke>b", {{'C', -1, "a"}, {'X', -1, "closing DSML tag"}}},
    {"invoke without a name", false, BLOCK_OPEN "<" D "invoke>\n" INVOKE_END BLOCK_CLOSE,
     {{'X', 0, "expected name=\"...\" in the invoke tag"}}},
    {"empty tool name", false, BLOCK_OPEN INVOKE("") INVOKE_END BLOCK_CLOSE, {{'X', 0, "the tool name is empty"}}},
    {"tool name with a forbidden character", false, BLOCK_OPEN INVOKE("a<b") INVOKE_END BLOCK_CLOSE,
     {{'X', 0, "contains byte 0x3c"}}},
    {"parameter outside an invoke", false, BLOCK_OPEN STR("a", "1") BLOCK_CLOSE,
     {{'X', -1, "then an invoke or the block's end"}}},
    {"no newline after the block tag", false, "\n\n<" D "tool_calls>" INVOKE("f") INVOKE_END BLOCK_CLOSE,
     {{'X', -1, "byte 22 of the tool calls"}}},
    {"parameter without string attribute", false,
     BLOCK_OPEN INVOKE("f") "<" D "parameter name=\"a\">1</" D "parameter>\n" INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'X', 0, "expected string=\"true\" or string=\"false\""}}},
    {"parameter with string=\"yes\"", false,
     BLOCK_OPEN INVOKE("f") "<" D "parameter name=\"a\" string=\"yes\">1</" D "parameter>\n" INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'X', 0, "expected string=\"true\" or"}}},
    {"empty parameter name", false, BLOCK_OPEN INVOKE("f") STR("", "1") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'X', 0, "a parameter name is empty"}}},
    {"duplicate parameter fails that call only",
     false,
     BLOCK_OPEN INVOKE("f") STR("a", "1") STR("a", "2") INVOKE_END INVOKE("g") STR("b", "3") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"},
      {'A', 0, "{\"a\": \"1\""},
      {'X', 0, "duplicate parameter 'a'"},
      {'S', 1, "g"},
      {'A', 1, "{\"b\": \"3\"}"},
      {'E', 1, NULL}}},
    {"string=false value that is not JSON fails that call only",
     false,
     BLOCK_OPEN INVOKE("f") STR("a", "1") JSON("n", "{bad}") INVOKE_END INVOKE("g") JSON("m", "01") INVOKE_END
         INVOKE("h") JSON("k", "null") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"},
      {'A', 0, "{\"a\": \"1\", \"n\": "},
      {'X', 0, "parameter 'n' is marked string=\"false\" but its value is not JSON"},
      {'S', 1, "g"},
      {'A', 1, "{\"m\": "},
      {'X', 1, "text after the value at byte 1"},
      {'S', 2, "h"},
      {'A', 2, "{\"k\": null}"},
      {'E', 2, NULL}}},
    {"empty string=false value", false, BLOCK_OPEN INVOKE("f") JSON("n", "") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'A', 0, "{\"n\": "}, {'X', 0, "not JSON (a value was expected"}}},
    {"parameter not closed before the next one", false,
     BLOCK_OPEN INVOKE("f") "<" D "parameter name=\"a\" string=\"true\">1\n" STR("b", "2") INVOKE_END BLOCK_CLOSE,
     {{'S', 0, "f"}, {'A', 0, "{\"a\": \"1\\n<"}, {'X', 0, "parameter 'a' is not closed before the next DSML tag"}}},
    {"message ends inside a parameter", false,
     "Sure." BLOCK_OPEN INVOKE("f") "<" D "parameter name=\"a\" string=\"true\">abc",
     {{'C', -1, "Sure."}, {'S', 0, "f"}, {'A', 0, "{\"a\": \"abc"}, {'X', 0, "ended inside parameter 'a' of tool call 0"}}},
    {"message ends inside a JSON parameter", false,
     BLOCK_OPEN INVOKE("f") "<" D "parameter name=\"a\" string=\"false\">[1,",
     {{'S', 0, "f"}, {'A', 0, "{\"a\": "}, {'X', 0, "ended inside parameter 'a'"}}},
    {"message ends after the tool name", false, BLOCK_OPEN INVOKE("f"),
     {{'S', 0, "f"}, {'X', 0, "ended inside tool call 0"}}},
    {"message ends inside the tool name", false, BLOCK_OPEN "<" D "invoke name=\"fo",
     {{'X', 0, "ended inside tool call 0"}}},
    {"message ends inside the block tag", false, "ok\n\n<" D "tool_ca", {{'C', -1, "ok"}, {'X', -1, "inside a DSML tag"}}},
    {"message ends before the block's end", false, BLOCK_OPEN INVOKE("f") INVOKE_END,
     {{'S', 0, "f"}, {'A', 0, "{}"}, {'E', 0, NULL}, {'X', -1, "ended before the end of the tool_calls block"}}},
    {"text after the block", false, BLOCK_OPEN INVOKE("f") INVOKE_END BLOCK_CLOSE "\nmore",
     {{'S', 0, "f"}, {'A', 0, "{}"}, {'E', 0, NULL}, {'X', -1, "text after the end of the tool_calls block"}}},
    {"second block after the first", false, BLOCK_OPEN INVOKE("f") INVOKE_END BLOCK_CLOSE BLOCK_OPEN,
     {{'S', 0, "f"}, {'A', 0, "{}"}, {'E', 0, NULL}, {'X', -1, "text after the end"}}},
    {"missing invoke end", false, BLOCK_OPEN INVOKE("f") STR("a", "1") BLOCK_CLOSE,
     {{'S', 0, "f"}, {'A', 0, "{\"a\": \"1\""}, {'X', 0, "then a parameter or the invoke's end"}}},
};

enum { CASE_COUNT = sizeof cases / sizeof cases[0] };

/* ---------------------------------------------------------------- collecting events */

typedef struct {
    char kind;
    int index;
    char *text;
    size_t len;
} got_event;

typedef struct {
    got_event *events;
    size_t count, capacity;
    int bad; /* events that broke an invariant of the API */
} event_log;

static char kind_letter(cn_output_event_kind kind) {
    switch (kind) {
    case CN_OUTPUT_REASONING_DELTA: return 'R';
    case CN_OUTPUT_CONTENT_DELTA: return 'C';
    case CN_OUTPUT_TOOL_CALL_START: return 'S';
    case CN_OUTPUT_TOOL_ARGUMENTS_DELTA: return 'A';
    case CN_OUTPUT_TOOL_CALL_END: return 'E';
    case CN_OUTPUT_ERROR: return 'X';
    case CN_OUTPUT_END: return '.';
    }
    return '?';
}

static bool is_delta(char kind) { return kind == 'R' || kind == 'C' || kind == 'A'; }

/* Joins adjacent deltas of one kind and call, so logs from different splits compare. */
static void collect(void *context, const cn_output_event *event) {
    event_log *log = context;
    char kind = kind_letter(event->kind);
    if (!event->text || event->text[event->len] != 0 || !cn_output_utf8_valid(event->text, event->len)) log->bad++;
    if (is_delta(kind) && event->len == 0) log->bad++;
    if (log->count && log->events[log->count - 1].kind == '.') log->bad++; /* nothing after END */
    got_event *last = log->count ? &log->events[log->count - 1] : NULL;
    if (last && is_delta(kind) && last->kind == kind && last->index == event->call_index) {
        last->text = realloc(last->text, last->len + event->len + 1);
        memcpy(last->text + last->len, event->text, event->len);
        last->len += event->len;
        last->text[last->len] = 0;
        return;
    }
    if (log->count == log->capacity) {
        log->capacity = log->capacity ? log->capacity * 2 : 16;
        log->events = realloc(log->events, log->capacity * sizeof *log->events);
    }
    got_event *e = &log->events[log->count++];
    e->kind = kind;
    e->index = event->call_index;
    e->len = event->len;
    e->text = malloc(event->len + 1);
    memcpy(e->text, event->text, event->len);
    e->text[event->len] = 0;
}

static void log_free(event_log *log) {
    for (size_t i = 0; i < log->count; i++) free(log->events[i].text);
    free(log->events);
    memset(log, 0, sizeof *log);
}

static bool logs_equal(const event_log *a, const event_log *b) {
    if (a->count != b->count) return false;
    for (size_t i = 0; i < a->count; i++) {
        const got_event *x = &a->events[i], *y = &b->events[i];
        if (x->kind != y->kind || x->index != y->index || x->len != y->len || memcmp(x->text, y->text, x->len))
            return false;
    }
    return true;
}

static void print_log(const char *title, const event_log *log) {
    fprintf(stderr, "  %s:\n", title);
    for (size_t i = 0; i < log->count; i++)
        fprintf(stderr, "    %c %d [%s]\n", log->events[i].kind, log->events[i].index, log->events[i].text);
}

/* Feeds input cut at the given offsets (ascending), then finishes. The parser is returned
 * for inspection when keep is given. */
static void parse_with_cuts(const parse_case *c, const size_t *cuts, int cut_count, event_log *log,
                            cn_output_parser **keep) {
    cn_output_parser *p = NULL;
    cn_error err = {0};
    CHECK(cn_output_parser_create(c->reasoning ? CN_OUTPUT_START_IN_REASONING : CN_OUTPUT_START_IN_CONTENT, collect,
                                  log, &p, &err) == CN_OK);
    if (!p) return;
    size_t len = strlen(c->input), at = 0;
    for (int k = 0; k <= cut_count; k++) {
        size_t end = k < cut_count ? cuts[k] : len;
        CHECK(cn_output_parser_feed(p, c->input + at, end - at, &err) == CN_OK);
        at = end;
    }
    CHECK(cn_output_parser_finish(p, &err) == CN_OK);
    if (keep) *keep = p;
    else cn_output_parser_free(p);
}

/* ---------------------------------------------------------------- checks */

static bool matches_table(const parse_case *c, const event_log *log) {
    size_t n = 0;
    while (n < 16 && c->events[n].kind) n++;
    if (log->count != n + 1 || log->events[n].kind != '.') return false;
    for (size_t i = 0; i < n; i++) {
        const expected_event *want = &c->events[i];
        const got_event *got = &log->events[i];
        if (got->kind != want->kind || got->index != want->index) return false;
        if (want->kind == 'X') {
            if (!strstr(got->text, want->text)) return false;
        } else if (want->text && strcmp(got->text, want->text) != 0) {
            return false;
        }
    }
    return true;
}

/* Every completed call's arguments are one JSON object; every call with an error failed. */
static void check_calls(const parse_case *c, cn_output_parser *p, const event_log *log) {
    for (size_t i = 0; i < cn_output_parser_call_count(p); i++) {
        cn_output_call call;
        CHECK(cn_output_parser_call(p, i, &call));
        if (call.status == CN_OUTPUT_CALL_COMPLETE) {
            cJSON *json = cJSON_ParseWithLength(call.arguments, call.arguments_len);
            CHECKF(json && cJSON_IsObject(json), "%s: call %zu arguments are not a JSON object: %s", c->name, i,
                   call.arguments);
            cJSON_Delete(json);
            CHECKF(cn_output_json_validate(call.arguments, call.arguments_len, NULL, 0), "%s: call %zu", c->name, i);
            CHECKF(call.error == NULL, "%s: call %zu completed with an error", c->name, i);
            /* The raw bytes are the exact invoke as it appears in the input. */
            CHECKF(call.raw_len > 0 && strstr(c->input, call.raw) != NULL, "%s: call %zu raw not found in input",
                   c->name, i);
            CHECKF(strncmp(call.raw, "<" D "invoke", strlen("<" D "invoke")) == 0 &&
                       strcmp(call.raw + call.raw_len - strlen("</" D "invoke>"), "</" D "invoke>") == 0,
                   "%s: call %zu raw is not one invoke: %s", c->name, i, call.raw);
        } else {
            CHECKF(call.status == CN_OUTPUT_CALL_FAILED && call.error, "%s: call %zu neither completed nor failed",
                   c->name, i);
        }
    }
    /* The DSML region is the input's tail from its first DSML tag (after the separator). */
    size_t raw_len;
    const char *raw = cn_output_parser_dsml_raw(p, &raw_len);
    if (raw_len) {
        size_t in_len = strlen(c->input);
        CHECKF(raw_len <= in_len && memcmp(c->input + in_len - raw_len, raw, raw_len) == 0,
               "%s: DSML raw is not the input's tail", c->name);
    }
    size_t errors = 0;
    for (size_t i = 0; i < log->count; i++) errors += log->events[i].kind == 'X';
    CHECK(errors == cn_output_parser_error_count(p));
}

static int split_runs = 0;

static void check_split(const parse_case *c, const event_log *whole, const size_t *cuts, int cut_count) {
    event_log log = {0};
    parse_with_cuts(c, cuts, cut_count, &log, NULL);
    split_runs++;
    if (!logs_equal(whole, &log) || log.bad) {
        fprintf(stderr, "%s: split at", c->name);
        for (int k = 0; k < cut_count; k++) fprintf(stderr, " %zu", cuts[k]);
        fprintf(stderr, " gives different events\n");
        print_log("whole", whole);
        print_log("split", &log);
        cn_test_failures++;
    }
    log_free(&log);
}

static void check_case(const parse_case *c) {
    event_log whole = {0};
    cn_output_parser *p = NULL;
    parse_with_cuts(c, NULL, 0, &whole, &p);
    CHECKF(whole.bad == 0, "%s: malformed events", c->name);
    if (!matches_table(c, &whole)) {
        fprintf(stderr, "%s: events differ from the table\n", c->name);
        print_log("got", &whole);
        cn_test_failures++;
    }
    if (p) check_calls(c, p, &whole);
    cn_output_parser_free(p);

    size_t len = strlen(c->input);
    int failures_before = cn_test_failures;
    for (size_t a = 1; a < len && cn_test_failures == failures_before; a++) check_split(c, &whole, &a, 1);
    if (len <= 160)
        for (size_t a = 1; a < len && cn_test_failures == failures_before; a++)
            for (size_t b = a + 1; b < len && cn_test_failures == failures_before; b++) {
                size_t cuts[2] = {a, b};
                check_split(c, &whole, cuts, 2);
            }
    /* One byte at a time. */
    size_t *every = malloc((len ? len : 1) * sizeof *every);
    for (size_t i = 1; i < len; i++) every[i - 1] = i;
    check_split(c, &whole, every, len ? (int)len - 1 : 0);
    free(every);
    log_free(&whole);
}

/* ---------------------------------------------------------------- streaming behaviour */

static size_t count_kind(const event_log *log, char kind) {
    size_t n = 0;
    for (size_t i = 0; i < log->count; i++) n += log->events[i].kind == kind;
    return n;
}

/* Text is handed out as soon as it cannot be part of a marker or a cut character. */
static void check_holds_back_only_what_it_must(void) {
    struct {
        const char *fed;
        const char *emitted; /* content so far, before finish */
    } probes[] = {
        {"Hello", "Hello"},
        {"Hello\n", "Hello"},
        {"Hello\n\n", "Hello"},
        {"Hello\n\n\n", "Hello\n"},
        {"a<", "a"},
        {"a<｜DS", "a"},
        {"a<x", "a<x"},
        {"a</thin", "a"},
        {"你好\xe5\xa5", "你好"},
        {"a\xff", "a\xEF\xBF\xBD"},
    };
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        event_log log = {0};
        cn_output_parser *p = NULL;
        cn_error err = {0};
        CHECK(cn_output_parser_create(CN_OUTPUT_START_IN_CONTENT, collect, &log, &p, &err) == CN_OK);
        CHECK(cn_output_parser_feed(p, probes[i].fed, strlen(probes[i].fed), &err) == CN_OK);
        const char *got = log.count ? log.events[0].text : "";
        CHECKF(strcmp(got, probes[i].emitted) == 0 && log.count <= 1, "fed [%s]: emitted [%s]", probes[i].fed, got);
        cn_output_parser_free(p);
        log_free(&log);
    }
    /* A string argument streams before its parameter closes. */
    event_log log = {0};
    cn_output_parser *p = NULL;
    cn_error err = {0};
    CHECK(cn_output_parser_create(CN_OUTPUT_START_IN_CONTENT, collect, &log, &p, &err) == CN_OK);
    const char *text = BLOCK_OPEN INVOKE("write") "<" D "parameter name=\"text\" string=\"true\">第一行\n";
    CHECK(cn_output_parser_feed(p, text, strlen(text), &err) == CN_OK);
    CHECK(count_kind(&log, 'S') == 1);
    CHECKF(log.count == 2 && strcmp(log.events[1].text, "{\"text\": \"第一行\\n") == 0, "streamed [%s]",
           log.count == 2 ? log.events[1].text : "");
    cn_output_parser_free(p);
    log_free(&log);
}

static void check_raw_bytes(void) {
    const char *call0 = "<" D "invoke name=\"a\">\n" STR("x", "1") "</" D "invoke>";
    const char *call1 = "<" D "invoke name=\"b\">\n" STR("y", "2") STR("y", "3") "</" D "invoke>";
    const char *call2 = "<" D "invoke name=\"c\">\n<" D "parameter name=\"z\" string=\"true\">v";
    char input[1024];
    snprintf(input, sizeof input, "Hi\n\n<" D "tool_calls>\n%s\n%s\n%s", call0, call1, call2);
    event_log log = {0};
    cn_output_parser *p = NULL;
    cn_error err = {0};
    CHECK(cn_output_parser_create(CN_OUTPUT_START_IN_CONTENT, collect, &log, &p, &err) == CN_OK);
    CHECK(cn_output_parser_feed(p, input, strlen(input), &err) == CN_OK);
    CHECK(cn_output_parser_finish(p, &err) == CN_OK);
    CHECK(cn_output_parser_call_count(p) == 3);
    cn_output_call call;
    const char *want[3] = {call0, call1, call2};
    cn_output_call_status status[3] = {CN_OUTPUT_CALL_COMPLETE, CN_OUTPUT_CALL_FAILED, CN_OUTPUT_CALL_FAILED};
    for (size_t i = 0; i < 3; i++) {
        CHECK(cn_output_parser_call(p, i, &call));
        CHECKF(call.raw_len == strlen(want[i]) && strcmp(call.raw, want[i]) == 0, "call %zu raw [%s]", i, call.raw);
        CHECK(call.status == status[i]);
    }
    CHECK(cn_output_parser_call(p, 0, &call) && strcmp(call.name, "a") == 0 &&
          strcmp(call.arguments, "{\"x\": \"1\"}") == 0);
    CHECK(cn_output_parser_call(p, 1, &call) && call.error && strstr(call.error, "duplicate"));
    CHECK(!cn_output_parser_call(p, 3, &call));
    size_t raw_len;
    const char *raw = cn_output_parser_dsml_raw(p, &raw_len);
    CHECK(raw_len == strlen(input) - 4 && strcmp(raw, input + 4) == 0);
    /* Misuse is an error value, not a crash. */
    CHECK(cn_output_parser_feed(p, "x", 1, &err) == CN_ERR_ARG);
    CHECK(cn_output_parser_finish(p, &err) == CN_ERR_ARG);
    cn_output_parser_free(p);
    log_free(&log);
    CHECK(cn_output_parser_create(CN_OUTPUT_START_IN_CONTENT, NULL, NULL, &p, &err) == CN_ERR_ARG);
}

static void check_json_validator(void) {
    const char *good[] = {"0", "-0", "1.5e-3", "\"\"", "\"\\u00e9\\\"\"", " [ ] ", "{\"a\":{\"b\":[true,false,null]}}",
                          "\"香港\"", "-12.0E+2"};
    const char *bad[] = {"", "01", "+1", ".5", "1.", "-", "1e", "[1,]", "{\"a\"}", "{a:1}", "'x'", "\"\x01\"",
                         "\"\\x\"", "\"\\u12\"", "tru", "nul", "[1] 2", "NaN", "\"\xff\"", "[", "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECKF(cn_output_json_validate(good[i], strlen(good[i]), NULL, 0), "rejected [%s]", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECKF(!cn_output_json_validate(bad[i], strlen(bad[i]), NULL, 0), "accepted [%s]", bad[i]);
    char deep[2 * CN_OUTPUT_JSON_MAX_DEPTH + 3];
    memset(deep, '[', CN_OUTPUT_JSON_MAX_DEPTH + 1);
    memset(deep + CN_OUTPUT_JSON_MAX_DEPTH + 1, ']', CN_OUTPUT_JSON_MAX_DEPTH + 1);
    CHECK(!cn_output_json_validate(deep, 2 * CN_OUTPUT_JSON_MAX_DEPTH + 2, NULL, 0));
    CHECK(cn_output_json_validate(deep + 1, 2 * CN_OUTPUT_JSON_MAX_DEPTH, NULL, 0));
}

int main(void) {
    for (int i = 0; i < CASE_COUNT; i++) check_case(&cases[i]);
    fprintf(stderr, "%d cases, %d split runs\n", CASE_COUNT, split_runs);
    check_holds_back_only_what_it_must();
    check_raw_bytes();
    check_json_validator();
    return cn_test_finish("test_output_parser");
}
