/* The DeepSeek-V4 output state machine. The accepted DSML is the grammar of DeepSeek's own
 * parser (encoding_dsv4.py, parse_message_from_completion_text), read as a stream:
 *
 *   content  "\n\n<｜DSML｜tool_calls>\n"
 *   invoke   "<｜DSML｜invoke" ws* "name=\"" NAME "\">\n" ["\n"]
 *   param    "<｜DSML｜parameter name=\"" KEY "\" string=\"true|false\">" VALUE "</｜DSML｜parameter>\n"
 *            ... "</｜DSML｜invoke>" then "\n" + next invoke or "\n</｜DSML｜tool_calls>" + end.
 *
 * Between fields the text is fixed, so most of the block is matched byte by byte against a
 * few literal alternatives; only names and values are free text. Errors come in two kinds:
 * a broken grammar stops parsing (the rest of the message is kept as raw bytes only), while
 * a well-formed call with bad meaning (duplicate key, string="false" value that is not JSON)
 * fails alone and the calls after it are still read. */
#include "text/output_parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/output_parser_bytes.h"
#include "text/output_parser_json.h"
#include "text/output_parser_utf8.h"

#define DSML_OPEN "<｜DSML｜"
#define DSML_CLOSE "</｜DSML｜"
#define MAX_NAME_BYTES 256
#define MAX_TAG_BYTES 24
#define MAX_ALTERNATIVES 4

typedef enum {
    MODE_REASONING,
    MODE_CONTENT,
    MODE_DSML_TAG,     /* after "<｜DSML｜" in content: reading the tag name */
    MODE_LITERAL,      /* matching one of a few fixed texts */
    MODE_INVOKE_SPACE, /* whitespace between "<｜DSML｜invoke" and name=" */
    MODE_TOOL_NAME,
    MODE_PARAM_NAME,
    MODE_VALUE,
    MODE_AFTER_BLOCK, /* after </｜DSML｜tool_calls>: only the end of the message may follow */
    MODE_FAILED,      /* a grammar error: the rest is raw bytes only */
    MODE_FINISHED,
} parser_mode;

/* What completing a literal alternative leads to. */
typedef enum {
    ACT_OPEN_INVOKE,
    ACT_CLOSE_BLOCK,
    ACT_READ_TOOL_NAME,
    ACT_OPEN_PARAM,
    ACT_READ_PARAM_NAME,
    ACT_STRING_VALUE,
    ACT_JSON_VALUE,
    ACT_CLOSE_INVOKE,
} literal_action;

typedef struct {
    const char *text;
    literal_action action;
} literal_alternative;

typedef struct {
    literal_alternative alternatives[MAX_ALTERNATIVES];
    int count;
    unsigned viable; /* bit k: alternative k agrees with every byte matched so far */
    size_t matched;
    const char *expected; /* for the error message */
} literal_match;

typedef struct {
    cn_output_call_status status;
    cn_output_bytes name, arguments, raw;
    cn_output_bytes keys; /* parameter names, each followed by a NUL, for duplicate checks */
    size_t param_count;
    cn_output_bytes error;
    bool has_error;
} call_record;

typedef struct {
    const char *text;
    size_t len;
} scan_marker;

#define MARKER(s) {s, sizeof(s) - 1}

struct cn_output_parser {
    cn_output_event_fn on_event;
    void *context;
    parser_mode mode;
    bool out_of_memory;
    cn_output_bytes pending; /* fed, not yet consumed (a marker prefix or a cut character) */
    cn_output_bytes scratch; /* the text of the event being built */
    cn_output_bytes field;   /* DSML tag, tool name or parameter name being read */
    cn_output_bytes key;     /* the current parameter's name, for messages */
    cn_output_bytes value;   /* a string="false" value being read */
    bool value_is_string;
    cn_output_bytes dsml_raw;
    bool in_dsml;
    literal_match literal;
    call_record *calls;
    size_t call_count, call_capacity;
    bool call_open; /* bytes also belong to calls[call_count - 1].raw */
    /* A block opened with a variant name (toolcalls, tool) may be closed by that name too. */
    char close_after_open[48], close_after_invoke[48];
    bool block_has_variant;
    size_t error_count;
};

/* ---------------------------------------------------------------- small helpers */

static void put(cn_output_parser *p, cn_output_bytes *b, const void *s, size_t n) {
    if (!cn_output_bytes_append(b, s, n)) p->out_of_memory = true;
}

static void put_str(cn_output_parser *p, cn_output_bytes *b, const char *s) { put(p, b, s, strlen(s)); }

static call_record *current_call(cn_output_parser *p) { return p->call_count ? &p->calls[p->call_count - 1] : NULL; }

static int current_index(const cn_output_parser *p) { return (int)p->call_count - 1; }

static void emit(cn_output_parser *p, cn_output_event_kind kind, int index, const char *text, size_t len) {
    bool delta = kind == CN_OUTPUT_REASONING_DELTA || kind == CN_OUTPUT_CONTENT_DELTA ||
                 kind == CN_OUTPUT_TOOL_ARGUMENTS_DELTA;
    if (delta && len == 0) return;
    cn_output_event event = {kind, index, text ? text : "", len};
    p->on_event(p->context, &event);
}

/* Bytes of the DSML region are kept exactly, for the block and for the call they belong to. */
static void keep_raw(cn_output_parser *p, const char *s, size_t n) {
    if (p->in_dsml) put(p, &p->dsml_raw, s, n);
    if (p->call_open) put(p, &current_call(p)->raw, s, n);
}

static void emit_arguments(cn_output_parser *p, const char *s, size_t n) {
    call_record *call = current_call(p);
    if (call->status != CN_OUTPUT_CALL_OPEN || n == 0) return;
    put(p, &call->arguments, s, n);
    emit(p, CN_OUTPUT_TOOL_ARGUMENTS_DELTA, current_index(p), s, n);
}

/* Reports an error; for a call, the call fails and is never completed. */
static void report(cn_output_parser *p, int index, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(cn_output_parser *p, int index, const char *fmt, ...) {
    char message[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    /* Names inside the message are valid UTF-8, but truncation could cut a character. */
    size_t used;
    cn_output_bytes_clear(&p->scratch);
    if (!cn_output_utf8_sanitize_append(&p->scratch, message, strlen(message), false, &used)) {
        p->out_of_memory = true;
        return;
    }
    p->error_count++;
    if (index >= 0) {
        call_record *call = &p->calls[index];
        call->status = CN_OUTPUT_CALL_FAILED;
        if (!call->has_error) {
            put(p, &call->error, p->scratch.data, p->scratch.len);
            call->has_error = true;
        }
    }
    emit(p, CN_OUTPUT_ERROR, index, p->scratch.data, p->scratch.len);
}

/* A grammar error: reported against the open call (if any); nothing after it is parsed. */
#define fail(p, ...)                                              \
    do {                                                          \
        report((p), (p)->call_open ? current_index(p) : -1, __VA_ARGS__); \
        (p)->mode = MODE_FAILED;                                  \
    } while (0)

/* Finds the first position where a marker starts, or where the text could still turn into
 * one (then everything from there is held back, unless this is the final flush). A marker
 * that matches is preferred to a longer one that might. Returns the text length before it;
 * *found is the marker's index, or -1. */
static size_t scan_for_markers(const char *s, size_t n, const scan_marker *markers, int count, bool final,
                               int *found) {
    for (size_t i = 0; i < n; i++) {
        int full = -1;
        bool maybe_longer = false;
        for (int k = 0; k < count; k++) {
            if (s[i] != markers[k].text[0]) continue;
            size_t avail = n - i;
            if (avail >= markers[k].len) {
                if (memcmp(s + i, markers[k].text, markers[k].len) == 0 &&
                    (full < 0 || markers[k].len > markers[full].len))
                    full = k;
            } else if (!final && memcmp(s + i, markers[k].text, avail) == 0) {
                maybe_longer = true;
            }
        }
        if (maybe_longer) {
            *found = -1;
            return i;
        }
        if (full >= 0) {
            *found = full;
            return i;
        }
    }
    *found = -1;
    return n;
}

static void start_literal(cn_output_parser *p, const char *expected, int count, const literal_alternative *alts) {
    literal_match *m = &p->literal;
    memcpy(m->alternatives, alts, (size_t)count * sizeof *alts);
    m->count = count;
    m->viable = (1u << count) - 1;
    m->matched = 0;
    m->expected = expected;
    p->mode = MODE_LITERAL;
}

/* ---------------------------------------------------------------- reasoning and content */

enum { REASONING_END_THINK, REASONING_THINK };
static const scan_marker reasoning_markers[] = {MARKER("</think>"), MARKER("<think>")};

enum { CONTENT_DSML_2NL, CONTENT_DSML_1NL, CONTENT_DSML, CONTENT_DSML_CLOSE, CONTENT_ASCII_DSML, CONTENT_THINK,
       CONTENT_END_THINK };
/* The "\n\n" the encoder writes before the block belongs to the block, not the content. */
static const scan_marker content_markers[] = {
    MARKER("\n\n" DSML_OPEN), MARKER("\n" DSML_OPEN), MARKER(DSML_OPEN), MARKER(DSML_CLOSE),
    MARKER("<|DSML|"),        MARKER("<think>"),      MARKER("</think>"),
};

static size_t step_text(cn_output_parser *p, const char *s, size_t n, bool final) {
    bool reasoning = p->mode == MODE_REASONING;
    int found;
    size_t text_len = reasoning ? scan_for_markers(s, n, reasoning_markers, 2, final, &found)
                                : scan_for_markers(s, n, content_markers, 7, final, &found);
    size_t used = text_len;
    if (text_len) {
        /* Only the end of the available text can be a cut character; before a marker or a held
         * marker prefix (which start with an ASCII byte or a lead byte) it is simply invalid. */
        bool hold = !final && found < 0 && text_len == n;
        cn_output_bytes_clear(&p->scratch);
        if (!cn_output_utf8_sanitize_append(&p->scratch, s, text_len, hold, &used)) {
            p->out_of_memory = true;
            return 0;
        }
        emit(p, reasoning ? CN_OUTPUT_REASONING_DELTA : CN_OUTPUT_CONTENT_DELTA, -1, p->scratch.data, p->scratch.len);
    }
    if (found < 0) return used;
    size_t marker_len = reasoning ? reasoning_markers[found].len : content_markers[found].len;
    if (reasoning) {
        /* A repeated <think> while reasoning is dropped, as vLLM does. */
        if (found == REASONING_END_THINK) p->mode = MODE_CONTENT;
        return used + marker_len;
    }
    switch (found) {
    case CONTENT_DSML_2NL:
    case CONTENT_DSML_1NL:
    case CONTENT_DSML:
        p->in_dsml = true;
        put_str(p, &p->dsml_raw, DSML_OPEN);
        cn_output_bytes_clear(&p->field);
        p->mode = MODE_DSML_TAG;
        return used + marker_len;
    case CONTENT_DSML_CLOSE:
        p->in_dsml = true;
        fail(p, "a closing DSML tag outside a tool_calls block");
        return used;
    case CONTENT_ASCII_DSML:
        p->in_dsml = true;
        fail(p, "a DSML tag written with ASCII '|' instead of '｜' (U+FF5C); not accepted as a tool call");
        return used;
    case CONTENT_THINK: /* vLLM reopens reasoning here; DeepSeek's parser rejects it */
        p->mode = MODE_REASONING;
        return used + marker_len;
    default: /* a stray </think> in content is dropped, as vLLM does */
        return used + marker_len;
    }
}

/* ---------------------------------------------------------------- the tool_calls block */

static bool is_tag_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

static void open_block(cn_output_parser *p, const char *tag) {
    static const char expected[] = "'>' and a newline after the tool_calls tag, then an invoke or the block's end";
    literal_alternative alts[3] = {
        {">\n" DSML_OPEN "invoke", ACT_OPEN_INVOKE},
        {">\n" DSML_CLOSE "tool_calls>", ACT_CLOSE_BLOCK},
    };
    int count = 2;
    p->block_has_variant = strcmp(tag, "tool_calls") != 0;
    if (p->block_has_variant) {
        snprintf(p->close_after_open, sizeof p->close_after_open, ">\n" DSML_CLOSE "%s>", tag);
        snprintf(p->close_after_invoke, sizeof p->close_after_invoke, "\n" DSML_CLOSE "%s>", tag);
        alts[count++] = (literal_alternative){p->close_after_open, ACT_CLOSE_BLOCK};
    }
    start_literal(p, expected, count, alts);
}

static size_t step_dsml_tag(cn_output_parser *p, const char *s, size_t n) {
    size_t i = 0;
    while (i < n && p->field.len + i < MAX_TAG_BYTES && is_tag_char(s[i])) i++;
    put(p, &p->field, s, i);
    keep_raw(p, s, i);
    if (i == n && p->field.len < MAX_TAG_BYTES) return i; /* the tag may go on */
    const char *tag = cn_output_bytes_str(&p->field);
    if (!strcmp(tag, "tool_calls") || !strcmp(tag, "toolcalls") || !strcmp(tag, "tool")) open_block(p, tag);
    else if (!strcmp(tag, "invoke")) fail(p, "an invoke outside a tool_calls block");
    else if (!strcmp(tag, "parameter")) fail(p, "a parameter outside an invoke");
    else fail(p, "unknown DSML tag '" DSML_OPEN "%s'", tag);
    return i;
}

static void expect_param_or_invoke_end(cn_output_parser *p, const char *expected, bool after_name) {
    if (after_name) {
        /* DeepSeek's name check ends in `">\n$`, and `$` also matches before one more
         * newline; the encoder writes exactly that "\n\n" for a call without parameters. */
        static const literal_alternative alts[4] = {
            {">\n" DSML_OPEN "parameter", ACT_OPEN_PARAM},
            {">\n" DSML_CLOSE "invoke>", ACT_CLOSE_INVOKE},
            {">\n\n" DSML_OPEN "parameter", ACT_OPEN_PARAM},
            {">\n\n" DSML_CLOSE "invoke>", ACT_CLOSE_INVOKE},
        };
        start_literal(p, expected, 4, alts);
    } else {
        static const literal_alternative alts[2] = {
            {">\n" DSML_OPEN "parameter", ACT_OPEN_PARAM},
            {">\n" DSML_CLOSE "invoke>", ACT_CLOSE_INVOKE},
        };
        start_literal(p, expected, 2, alts);
    }
}

static void open_invoke(cn_output_parser *p) {
    if (p->call_count == p->call_capacity) {
        size_t capacity = p->call_capacity ? p->call_capacity * 2 : 4;
        call_record *grown = realloc(p->calls, capacity * sizeof *grown);
        if (!grown) {
            p->out_of_memory = true;
            return;
        }
        p->calls = grown;
        p->call_capacity = capacity;
    }
    call_record *call = &p->calls[p->call_count++];
    memset(call, 0, sizeof *call);
    call->status = CN_OUTPUT_CALL_OPEN;
    put_str(p, &call->raw, DSML_OPEN "invoke");
    p->call_open = true;
    p->mode = MODE_INVOKE_SPACE;
}

static void close_invoke(cn_output_parser *p) {
    call_record *call = current_call(p);
    p->call_open = false;
    if (call->status == CN_OUTPUT_CALL_OPEN) {
        emit_arguments(p, call->param_count ? "}" : "{}", call->param_count ? 1 : 2);
        call->status = CN_OUTPUT_CALL_COMPLETE;
        emit(p, CN_OUTPUT_TOOL_CALL_END, current_index(p), "", 0);
    }
    static const char expected[] = "a newline after </｜DSML｜invoke>, then an invoke or the block's end";
    literal_alternative alts[3] = {
        {"\n" DSML_OPEN "invoke", ACT_OPEN_INVOKE},
        {"\n" DSML_CLOSE "tool_calls>", ACT_CLOSE_BLOCK},
        {p->close_after_invoke, ACT_CLOSE_BLOCK},
    };
    start_literal(p, expected, p->block_has_variant ? 3 : 2, alts);
}

static void begin_value(cn_output_parser *p, bool is_string) {
    call_record *call = current_call(p);
    p->value_is_string = is_string;
    cn_output_bytes_clear(&p->value);
    if (call->status == CN_OUTPUT_CALL_OPEN) {
        /* The reference decoder joins `json(key): value` with ", " inside braces. */
        cn_output_bytes_clear(&p->scratch);
        put_str(p, &p->scratch, call->param_count ? ", \"" : "{\"");
        size_t used;
        if (!cn_output_json_escape_append(&p->scratch, p->key.data, p->key.len, false, &used)) p->out_of_memory = true;
        put_str(p, &p->scratch, is_string ? "\": \"" : "\": ");
        emit_arguments(p, p->scratch.data, p->scratch.len);
    }
    call->param_count++;
    p->mode = MODE_VALUE;
}

static void do_action(cn_output_parser *p, literal_action action) {
    switch (action) {
    case ACT_OPEN_INVOKE: open_invoke(p); break;
    case ACT_CLOSE_BLOCK: p->mode = MODE_AFTER_BLOCK; break;
    case ACT_READ_TOOL_NAME:
        cn_output_bytes_clear(&p->field);
        p->mode = MODE_TOOL_NAME;
        break;
    case ACT_OPEN_PARAM: {
        static const literal_alternative alts[1] = {{" name=\"", ACT_READ_PARAM_NAME}};
        start_literal(p, "' name=\"' after the parameter tag", 1, alts);
        break;
    }
    case ACT_READ_PARAM_NAME:
        cn_output_bytes_clear(&p->field);
        p->mode = MODE_PARAM_NAME;
        break;
    case ACT_STRING_VALUE: begin_value(p, true); break;
    case ACT_JSON_VALUE: begin_value(p, false); break;
    case ACT_CLOSE_INVOKE: close_invoke(p); break;
    }
}

static size_t step_literal(cn_output_parser *p, const char *s, size_t n) {
    literal_match *m = &p->literal;
    for (size_t i = 0; i < n; i++) {
        keep_raw(p, s + i, 1);
        unsigned viable = 0;
        for (int k = 0; k < m->count; k++)
            if ((m->viable >> k & 1u) && m->alternatives[k].text[m->matched] == s[i]) viable |= 1u << k;
        if (!viable) {
            fail(p, "malformed DSML at byte %zu of the tool calls: expected %s", p->dsml_raw.len - 1, m->expected);
            return i + 1;
        }
        m->viable = viable;
        m->matched++;
        for (int k = 0; k < m->count; k++) {
            /* No alternative is a prefix of another, so at most one completes. */
            if ((viable >> k & 1u) && m->alternatives[k].text[m->matched] == 0) {
                do_action(p, m->alternatives[k].action);
                return i + 1;
            }
        }
    }
    return n;
}

static size_t step_invoke_space(cn_output_parser *p, const char *s, size_t n) {
    size_t i = 0;
    while (i < n && strchr(" \t\n\r\f\v", s[i]) && s[i]) i++;
    keep_raw(p, s, i);
    if (i < n) {
        static const literal_alternative alts[1] = {{"name=\"", ACT_READ_TOOL_NAME}};
        start_literal(p, "name=\"...\" in the invoke tag", 1, alts);
    }
    return i;
}

static bool key_seen(const call_record *call, const char *key) {
    for (size_t at = 0; at < call->keys.len; at += strlen(call->keys.data + at) + 1)
        if (!strcmp(call->keys.data + at, key)) return true;
    return false;
}

static void finish_name(cn_output_parser *p, bool is_tool) {
    int index = current_index(p);
    call_record *call = current_call(p);
    const char *name = cn_output_bytes_str(&p->field);
    const char *what = is_tool ? "the tool name" : "a parameter name";
    if (p->field.len == 0) {
        fail(p, "tool call %d: %s is empty", index, what);
        return;
    }
    if (!cn_output_utf8_valid(p->field.data, p->field.len)) {
        fail(p, "tool call %d: %s is not valid UTF-8", index, what);
        return;
    }
    if (is_tool) {
        put(p, &call->name, p->field.data, p->field.len);
        emit(p, CN_OUTPUT_TOOL_CALL_START, index, call->name.data, call->name.len);
        expect_param_or_invoke_end(p, "'\">' and a newline after the tool name, then a parameter or the invoke's end",
                                   true);
        return;
    }
    cn_output_bytes_clear(&p->key);
    put(p, &p->key, p->field.data, p->field.len);
    if (key_seen(call, name)) report(p, index, "tool call %d: duplicate parameter '%s'", index, name);
    put(p, &call->keys, p->field.data, p->field.len + 1); /* with its NUL */
    static const literal_alternative alts[2] = {
        {"\" string=\"true\">", ACT_STRING_VALUE},
        {"\" string=\"false\">", ACT_JSON_VALUE},
    };
    start_literal(p, "string=\"true\" or string=\"false\" after the parameter name", 2, alts);
}

/* Tool and parameter names run to the closing quote (not consumed here for parameters: it
 * starts the literal that follows). Characters that cannot be in a name end the parse. */
static size_t step_name(cn_output_parser *p, const char *s, size_t n, bool is_tool) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            keep_raw(p, s, i + (is_tool ? 1 : 0));
            finish_name(p, is_tool);
            return i + (is_tool ? 1 : 0);
        }
        if (c < 0x20 || c == '<' || c == '>' || p->field.len >= MAX_NAME_BYTES) {
            keep_raw(p, s, i);
            if (p->field.len >= MAX_NAME_BYTES)
                fail(p, "tool call %d: %s is longer than %d bytes", current_index(p),
                     is_tool ? "the tool name" : "a parameter name", MAX_NAME_BYTES);
            else
                fail(p, "tool call %d: %s contains byte 0x%02x", current_index(p),
                     is_tool ? "the tool name" : "a parameter name", c);
            return i;
        }
        put(p, &p->field, s + i, 1);
    }
    keep_raw(p, s, n);
    return n;
}

enum { VALUE_CLOSE, VALUE_STRAY_DSML };
static const scan_marker value_markers[] = {MARKER(DSML_CLOSE "parameter"), MARKER("｜DSML｜")};

static void end_value(cn_output_parser *p) {
    int index = current_index(p);
    call_record *call = current_call(p);
    if (p->value_is_string) {
        emit_arguments(p, "\"", 1);
    } else if (call->status == CN_OUTPUT_CALL_OPEN) {
        char why[128];
        if (cn_output_json_validate(p->value.data ? p->value.data : "", p->value.len, why, sizeof why))
            emit_arguments(p, p->value.data, p->value.len);
        else
            report(p, index, "tool call %d: parameter '%s' is marked string=\"false\" but its value is not JSON (%s)",
                   index, cn_output_bytes_str(&p->key), why);
    }
    expect_param_or_invoke_end(p, "'>' and a newline after the parameter, then a parameter or the invoke's end",
                               false);
}

static size_t step_value(cn_output_parser *p, const char *s, size_t n, bool final) {
    int found;
    size_t text_len = scan_for_markers(s, n, value_markers, 2, final, &found);
    size_t used = text_len;
    if (text_len) {
        if (p->value_is_string) {
            bool hold = !final && found < 0 && text_len == n;
            cn_output_bytes_clear(&p->scratch);
            if (!cn_output_json_escape_append(&p->scratch, s, text_len, hold, &used)) {
                p->out_of_memory = true;
                return 0;
            }
            emit_arguments(p, p->scratch.data, p->scratch.len);
        } else if (current_call(p)->status == CN_OUTPUT_CALL_OPEN) {
            put(p, &p->value, s, text_len);
        }
        keep_raw(p, s, used);
    }
    if (found == VALUE_CLOSE) {
        keep_raw(p, s + used, value_markers[found].len);
        end_value(p);
        return used + value_markers[found].len;
    }
    if (found == VALUE_STRAY_DSML)
        fail(p, "tool call %d: parameter '%s' is not closed before the next DSML tag", current_index(p),
             cn_output_bytes_str(&p->key));
    return used;
}

/* ---------------------------------------------------------------- driving */

static size_t step(cn_output_parser *p, const char *s, size_t n, bool final) {
    switch (p->mode) {
    case MODE_REASONING:
    case MODE_CONTENT: return step_text(p, s, n, final);
    case MODE_DSML_TAG: return step_dsml_tag(p, s, n);
    case MODE_LITERAL: return step_literal(p, s, n);
    case MODE_INVOKE_SPACE: return step_invoke_space(p, s, n);
    case MODE_TOOL_NAME: return step_name(p, s, n, true);
    case MODE_PARAM_NAME: return step_name(p, s, n, false);
    case MODE_VALUE: return step_value(p, s, n, final);
    case MODE_AFTER_BLOCK:
        /* DeepSeek's parser requires the end of the message right after the block. */
        fail(p, "text after the end of the tool_calls block");
        return 0;
    case MODE_FAILED: keep_raw(p, s, n); return n;
    case MODE_FINISHED: return 0;
    }
    return 0;
}

/* Consumes as much of the pending bytes as can be decided now. */
static void run(cn_output_parser *p, bool final) {
    const char *s = p->pending.data;
    size_t n = p->pending.len, pos = 0;
    while (pos < n && !p->out_of_memory) {
        parser_mode before = p->mode;
        size_t used = step(p, s + pos, n - pos, final);
        pos += used;
        if (used == 0 && p->mode == before) break;
    }
    if (pos) {
        memmove(p->pending.data, s + pos, n - pos);
        p->pending.len = n - pos;
        p->pending.data[p->pending.len] = 0;
    }
}

static void report_unfinished(cn_output_parser *p) {
    int index = current_index(p);
    switch (p->mode) {
    case MODE_DSML_TAG: fail(p, "the message ended inside a DSML tag"); break;
    case MODE_LITERAL:
    case MODE_INVOKE_SPACE:
    case MODE_TOOL_NAME:
    case MODE_PARAM_NAME:
        if (p->call_open) fail(p, "the message ended inside tool call %d", index);
        else fail(p, "the message ended before the end of the tool_calls block");
        break;
    case MODE_VALUE:
        fail(p, "the message ended inside parameter '%s' of tool call %d", cn_output_bytes_str(&p->key), index);
        break;
    default: break;
    }
}

cn_status cn_output_parser_create(cn_output_start start, cn_output_event_fn on_event, void *context,
                                  cn_output_parser **out, cn_error *err) {
    if (!on_event || !out) return cn_fail(err, CN_ERR_ARG, "output parser: an event callback is required");
    if (start != CN_OUTPUT_START_IN_REASONING && start != CN_OUTPUT_START_IN_CONTENT)
        return cn_fail(err, CN_ERR_ARG, "output parser: unknown start mode %d", (int)start);
    cn_output_parser *p = calloc(1, sizeof *p);
    if (!p) return cn_fail(err, CN_ERR_NOMEM, "output parser: out of memory");
    p->on_event = on_event;
    p->context = context;
    p->mode = start == CN_OUTPUT_START_IN_REASONING ? MODE_REASONING : MODE_CONTENT;
    *out = p;
    return CN_OK;
}

void cn_output_parser_free(cn_output_parser *p) {
    if (!p) return;
    for (size_t i = 0; i < p->call_count; i++) {
        call_record *call = &p->calls[i];
        cn_output_bytes_free(&call->name);
        cn_output_bytes_free(&call->arguments);
        cn_output_bytes_free(&call->raw);
        cn_output_bytes_free(&call->keys);
        cn_output_bytes_free(&call->error);
    }
    free(p->calls);
    cn_output_bytes *buffers[] = {&p->pending, &p->scratch, &p->field, &p->key, &p->value, &p->dsml_raw};
    for (size_t i = 0; i < sizeof buffers / sizeof *buffers; i++) cn_output_bytes_free(buffers[i]);
    free(p);
}

cn_status cn_output_parser_feed(cn_output_parser *p, const char *text, size_t len, cn_error *err) {
    if (!p) return cn_fail(err, CN_ERR_ARG, "output parser: no parser");
    if (p->out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "output parser: out of memory");
    if (p->mode == MODE_FINISHED) return cn_fail(err, CN_ERR_ARG, "output parser: text fed after the end of the message");
    if (len == 0) return CN_OK;
    if (!text) return cn_fail(err, CN_ERR_ARG, "output parser: NULL text");
    put(p, &p->pending, text, len);
    if (!p->out_of_memory) run(p, false);
    if (p->out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "output parser: out of memory");
    return CN_OK;
}

cn_status cn_output_parser_finish(cn_output_parser *p, cn_error *err) {
    if (!p) return cn_fail(err, CN_ERR_ARG, "output parser: no parser");
    if (p->out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "output parser: out of memory");
    if (p->mode == MODE_FINISHED) return cn_fail(err, CN_ERR_ARG, "output parser: the message was already finished");
    run(p, true);
    if (!p->out_of_memory) report_unfinished(p);
    if (p->out_of_memory) return cn_fail(err, CN_ERR_NOMEM, "output parser: out of memory");
    p->mode = MODE_FINISHED;
    emit(p, CN_OUTPUT_END, -1, "", 0);
    return CN_OK;
}

size_t cn_output_parser_call_count(const cn_output_parser *p) { return p ? p->call_count : 0; }

bool cn_output_parser_call(const cn_output_parser *p, size_t index, cn_output_call *call) {
    if (!p || index >= p->call_count || !call) return false;
    const call_record *r = &p->calls[index];
    call->status = r->status;
    call->name = cn_output_bytes_str(&r->name);
    call->arguments = cn_output_bytes_str(&r->arguments);
    call->arguments_len = r->arguments.len;
    call->raw = cn_output_bytes_str(&r->raw);
    call->raw_len = r->raw.len;
    call->error = r->has_error ? cn_output_bytes_str(&r->error) : NULL;
    return true;
}

const char *cn_output_parser_dsml_raw(const cn_output_parser *p, size_t *len) {
    if (len) *len = p ? p->dsml_raw.len : 0;
    return p ? cn_output_bytes_str(&p->dsml_raw) : "";
}

size_t cn_output_parser_error_count(const cn_output_parser *p) { return p ? p->error_count : 0; }
