#include "text/output_parser_json.h"

#include <stdio.h>
#include <string.h>

#include "text/output_parser_utf8.h"

static bool append_escape(cn_output_bytes *out, unsigned char c) {
    switch (c) {
    case '"': return cn_output_bytes_append_str(out, "\\\"");
    case '\\': return cn_output_bytes_append_str(out, "\\\\");
    case '\n': return cn_output_bytes_append_str(out, "\\n");
    case '\r': return cn_output_bytes_append_str(out, "\\r");
    case '\t': return cn_output_bytes_append_str(out, "\\t");
    case '\b': return cn_output_bytes_append_str(out, "\\b");
    case '\f': return cn_output_bytes_append_str(out, "\\f");
    default: {
        char hex[8];
        snprintf(hex, sizeof hex, "\\u%04x", c); /* lower-case hex, as Python writes it */
        return cn_output_bytes_append_str(out, hex);
    }
    }
}

bool cn_output_json_escape_append(cn_output_bytes *out, const char *s, size_t n, bool hold_truncated,
                                  size_t *consumed) {
    size_t i = 0, run = 0; /* s[run..i) needs no escaping and is not yet copied */
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        cn_output_utf8_kind kind = cn_output_utf8_next(s + i, n - i, &len);
        if (kind == CN_OUTPUT_UTF8_COMPLETE && c >= 0x80) {
            i += len;
            continue;
        }
        if (kind == CN_OUTPUT_UTF8_TRUNCATED && hold_truncated) break;
        if (!cn_output_bytes_append(out, s + run, i - run)) return false;
        bool ok = kind == CN_OUTPUT_UTF8_COMPLETE ? append_escape(out, c)
                                                  : cn_output_bytes_append_str(out, CN_OUTPUT_UTF8_REPLACEMENT);
        if (!ok) return false;
        i += len;
        run = i;
    }
    if (!cn_output_bytes_append(out, s + run, i - run)) return false;
    *consumed = i;
    return true;
}

/* A recursive-descent checker; depth is bounded, so recursion is too. */
typedef struct {
    const char *s;
    size_t n, pos;
    char *why;
    size_t why_size;
} json_reader;

static bool reject(json_reader *r, const char *what) {
    if (r->why && r->why_size) snprintf(r->why, r->why_size, "%s at byte %zu", what, r->pos);
    return false;
}

static void skip_space(json_reader *r) {
    while (r->pos < r->n) {
        char c = r->s[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        r->pos++;
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static bool read_digits(json_reader *r) {
    size_t start = r->pos;
    while (r->pos < r->n && is_digit(r->s[r->pos])) r->pos++;
    return r->pos > start;
}

static bool read_number(json_reader *r) {
    if (r->s[r->pos] == '-') r->pos++;
    if (r->pos >= r->n || !is_digit(r->s[r->pos])) return reject(r, "a number needs a digit");
    if (r->s[r->pos] == '0') r->pos++;
    else read_digits(r);
    if (r->pos < r->n && r->s[r->pos] == '.') {
        r->pos++;
        if (!read_digits(r)) return reject(r, "a fraction needs a digit");
    }
    if (r->pos < r->n && (r->s[r->pos] == 'e' || r->s[r->pos] == 'E')) {
        r->pos++;
        if (r->pos < r->n && (r->s[r->pos] == '+' || r->s[r->pos] == '-')) r->pos++;
        if (!read_digits(r)) return reject(r, "an exponent needs a digit");
    }
    return true;
}

static bool read_string(json_reader *r) {
    r->pos++; /* opening quote */
    while (r->pos < r->n) {
        unsigned char c = (unsigned char)r->s[r->pos];
        if (c == '"') {
            r->pos++;
            return true;
        }
        if (c < 0x20) return reject(r, "a control character inside a string");
        if (c == '\\') {
            if (r->pos + 1 >= r->n) break;
            char e = r->s[r->pos + 1];
            if (e == 'u') {
                for (size_t k = 2; k < 6; k++)
                    if (r->pos + k >= r->n || !is_hex(r->s[r->pos + k])) return reject(r, "a bad \\u escape");
                r->pos += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                r->pos += 2;
            } else {
                return reject(r, "a bad escape");
            }
            continue;
        }
        size_t len;
        if (cn_output_utf8_next(r->s + r->pos, r->n - r->pos, &len) != CN_OUTPUT_UTF8_COMPLETE)
            return reject(r, "invalid UTF-8 inside a string");
        r->pos += len;
    }
    return reject(r, "an unterminated string");
}

static bool read_literal(json_reader *r, const char *word) {
    size_t len = strlen(word);
    if (r->n - r->pos < len || memcmp(r->s + r->pos, word, len) != 0) return reject(r, "an unexpected character");
    r->pos += len;
    return true;
}

static bool read_value(json_reader *r, int depth);

static bool read_container(json_reader *r, int depth, char close) {
    if (depth >= CN_OUTPUT_JSON_MAX_DEPTH) return reject(r, "nesting too deep");
    r->pos++; /* '[' or '{' */
    skip_space(r);
    if (r->pos < r->n && r->s[r->pos] == close) {
        r->pos++;
        return true;
    }
    for (;;) {
        if (close == '}') {
            skip_space(r);
            if (r->pos >= r->n || r->s[r->pos] != '"') return reject(r, "an object key must be a string");
            if (!read_string(r)) return false;
            skip_space(r);
            if (r->pos >= r->n || r->s[r->pos] != ':') return reject(r, "a ':' was expected");
            r->pos++;
        }
        if (!read_value(r, depth + 1)) return false;
        skip_space(r);
        if (r->pos >= r->n) return reject(r, "an unclosed container");
        if (r->s[r->pos] == close) {
            r->pos++;
            return true;
        }
        if (r->s[r->pos] != ',') return reject(r, "a ',' was expected");
        r->pos++;
    }
}

static bool read_value(json_reader *r, int depth) {
    skip_space(r);
    if (r->pos >= r->n) return reject(r, "a value was expected");
    char c = r->s[r->pos];
    switch (c) {
    case '{': return read_container(r, depth, '}');
    case '[': return read_container(r, depth, ']');
    case '"': return read_string(r);
    case 't': return read_literal(r, "true");
    case 'f': return read_literal(r, "false");
    case 'n': return read_literal(r, "null");
    default:
        if (c == '-' || is_digit(c)) return read_number(r);
        return reject(r, "an unexpected character");
    }
}

bool cn_output_json_validate(const char *s, size_t n, char *why, size_t why_size) {
    json_reader r = {s, n, 0, why, why_size};
    if (!read_value(&r, 0)) return false;
    skip_space(&r);
    if (r.pos != n) return reject(&r, "text after the value");
    return true;
}
