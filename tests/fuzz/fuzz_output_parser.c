/* libFuzzer target for the DeepSeek-V4 output parser: any bytes, fed whole and in chunks
 * whose sizes come from the input. Both runs must give the same events once adjacent
 * deltas are joined, and the events must be well formed: valid UTF-8 text, no empty deltas,
 * one END at the end, call events in order (start, arguments, then end or error), and the
 * arguments of every completed call one JSON object (checked by cJSON as well as our own
 * validator). Leaks are caught by LeakSanitizer.
 *
 * Manual run (clang): cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCLAWNET_FUZZ=ON &&
 *   cmake --build build-fuzz --target fuzz_output_parser &&
 *   build-fuzz/tests/fuzz/fuzz_output_parser -dict=tests/fuzz/fuzz_output_parser.dict -max_total_time=120
 * The first input byte picks the start mode (bit 0) and seeds the chunk sizes. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/output_parser.h"
#include "text/output_parser_json.h"
#include "text/output_parser_utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    cn_output_event_kind kind;
    int index;
    char *text;
    size_t len;
} logged_event;

typedef struct {
    logged_event *events;
    size_t count, capacity;
    /* call bookkeeping for the ordering checks */
    int highest_index;
    unsigned char *call_state; /* 0 unseen, 1 started, 2 ended, 3 failed */
    size_t call_state_len;
} event_log;

static bool is_delta(cn_output_event_kind kind) {
    return kind == CN_OUTPUT_REASONING_DELTA || kind == CN_OUTPUT_CONTENT_DELTA ||
           kind == CN_OUTPUT_TOOL_ARGUMENTS_DELTA;
}

static unsigned char *call_state(event_log *log, int index) {
    if ((size_t)index >= log->call_state_len) {
        size_t len = (size_t)index + 16;
        log->call_state = realloc(log->call_state, len);
        if (!log->call_state) abort();
        memset(log->call_state + log->call_state_len, 0, len - log->call_state_len);
        log->call_state_len = len;
    }
    return &log->call_state[index];
}

static void check_order(event_log *log, const cn_output_event *e) {
    if (log->count && log->events[log->count - 1].kind == CN_OUTPUT_END) abort(); /* nothing after END */
    bool call_event = e->kind == CN_OUTPUT_TOOL_CALL_START || e->kind == CN_OUTPUT_TOOL_ARGUMENTS_DELTA ||
                      e->kind == CN_OUTPUT_TOOL_CALL_END;
    if (call_event && e->call_index < 0) abort();
    if (!call_event && e->kind != CN_OUTPUT_ERROR && e->call_index != -1) abort();
    if (e->call_index < 0) return;
    /* Calls come in order: a call's events never follow a later call's. */
    if (e->call_index < log->highest_index || e->call_index > log->highest_index + 1) abort();
    log->highest_index = e->call_index;
    unsigned char *state = call_state(log, e->call_index);
    switch (e->kind) {
    case CN_OUTPUT_TOOL_CALL_START:
        if (*state != 0) abort();
        *state = 1;
        break;
    case CN_OUTPUT_TOOL_ARGUMENTS_DELTA:
        if (*state != 1) abort();
        break;
    case CN_OUTPUT_TOOL_CALL_END:
        if (*state != 1) abort();
        *state = 2;
        break;
    case CN_OUTPUT_ERROR:
        if (*state == 2) abort(); /* a completed call is never failed afterwards */
        *state = 3;
        break;
    default: abort();
    }
}

static void collect(void *context, const cn_output_event *e) {
    event_log *log = context;
    if (!e->text || e->text[e->len] != 0 || !cn_output_utf8_valid(e->text, e->len)) abort();
    if (is_delta(e->kind) && e->len == 0) abort();
    check_order(log, e);
    logged_event *last = log->count ? &log->events[log->count - 1] : NULL;
    if (last && is_delta(e->kind) && last->kind == e->kind && last->index == e->call_index) {
        last->text = realloc(last->text, last->len + e->len + 1);
        if (!last->text) abort();
        memcpy(last->text + last->len, e->text, e->len + 1);
        last->len += e->len;
        return;
    }
    if (log->count == log->capacity) {
        log->capacity = log->capacity ? 2 * log->capacity : 16;
        log->events = realloc(log->events, log->capacity * sizeof *log->events);
        if (!log->events) abort();
    }
    logged_event *n = &log->events[log->count++];
    n->kind = e->kind;
    n->index = e->call_index;
    n->len = e->len;
    n->text = malloc(e->len + 1);
    if (!n->text) abort();
    memcpy(n->text, e->text, e->len + 1);
}

static void log_free(event_log *log) {
    for (size_t i = 0; i < log->count; i++) free(log->events[i].text);
    free(log->events);
    free(log->call_state);
}

static void check_completed_calls(cn_output_parser *p, const event_log *log) {
    size_t errors = 0;
    for (size_t i = 0; i < log->count; i++) errors += log->events[i].kind == CN_OUTPUT_ERROR;
    if (errors != cn_output_parser_error_count(p)) abort();
    if (!log->count || log->events[log->count - 1].kind != CN_OUTPUT_END) abort();
    for (size_t i = 0; i < cn_output_parser_call_count(p); i++) {
        cn_output_call call;
        if (!cn_output_parser_call(p, i, &call)) abort();
        if (call.status == CN_OUTPUT_CALL_OPEN) abort(); /* finish settles every call */
        if (call.status != CN_OUTPUT_CALL_COMPLETE) continue;
        if (!cn_output_json_validate(call.arguments, call.arguments_len, NULL, 0)) abort();
        cJSON *json = cJSON_ParseWithLength(call.arguments, call.arguments_len);
        if (!json || !cJSON_IsObject(json)) abort();
        cJSON_Delete(json);
    }
}

static cn_output_parser *parse(const char *text, size_t len, cn_output_start start, uint32_t seed, event_log *log) {
    cn_output_parser *p = NULL;
    if (cn_output_parser_create(start, collect, log, &p, NULL) != CN_OK) abort();
    size_t at = 0;
    while (at < len) {
        size_t chunk = len - at;
        if (seed) { /* xorshift chunk sizes of 1..16 bytes */
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            size_t pick = 1 + seed % 16;
            if (pick < chunk) chunk = pick;
        }
        if (cn_output_parser_feed(p, text + at, chunk, NULL) != CN_OK) abort();
        at += chunk;
    }
    if (cn_output_parser_finish(p, NULL) != CN_OK) abort();
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    cn_output_start start = (data[0] & 1) ? CN_OUTPUT_START_IN_REASONING : CN_OUTPUT_START_IN_CONTENT;
    uint32_t seed = 0x9E3779B9u ^ data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    event_log whole = {.highest_index = -1}, chunked = {.highest_index = -1};
    cn_output_parser *a = parse(text, len, start, 0, &whole);
    cn_output_parser *b = parse(text, len, start, seed, &chunked);
    check_completed_calls(a, &whole);
    check_completed_calls(b, &chunked);
    if (whole.count != chunked.count) abort();
    for (size_t i = 0; i < whole.count; i++) {
        const logged_event *x = &whole.events[i], *y = &chunked.events[i];
        if (x->kind != y->kind || x->index != y->index || x->len != y->len || memcmp(x->text, y->text, x->len))
            abort();
    }
    size_t raw_a, raw_b;
    const char *ra = cn_output_parser_dsml_raw(a, &raw_a), *rb = cn_output_parser_dsml_raw(b, &raw_b);
    if (raw_a != raw_b || memcmp(ra, rb, raw_a)) abort();
    cn_output_parser_free(a);
    cn_output_parser_free(b);
    log_free(&whole);
    log_free(&chunked);
    return 0;
}
