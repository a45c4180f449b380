/* A JSON reader with json.loads's rules, building cJSON trees that keep each number's source text
 * (chat_json.h says why). */
#include "text/chat_json.h"

#include "text/chat_utf8.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 512 };

typedef struct {
    const char *start;
    const char *p;
    const char *end;
    int depth;
    cn_error *err;
    bool failed;
    cn_status status;
} json_reader;

static cJSON *read_value(json_reader *r);

static cJSON *reader_fail(json_reader *r, const char *what) {
    if (!r->failed) {
        r->status = cn_fail(r->err, CN_ERR_FORMAT, "invalid JSON at byte %zu: %s", (size_t)(r->p - r->start), what);
        r->failed = true;
    }
    return NULL;
}

static cJSON *reader_nomem(json_reader *r) {
    if (!r->failed) {
        r->status = cn_fail(r->err, CN_ERR_NOMEM, "out of memory reading JSON");
        r->failed = true;
    }
    return NULL;
}

/* json.loads skips exactly these four whitespace characters. */
static void skip_whitespace(json_reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static bool take_literal(json_reader *r, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return false;
    r->p += n;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(json_reader *r, uint32_t *out) {
    if (r->end - r->p < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(r->p[i]);
        if (d < 0) return false;
        v = (v << 4) | (uint32_t)d;
    }
    r->p += 4;
    *out = v;
    return true;
}

/* Reads a string body after its opening quote into a malloc'd NUL-terminated buffer. */
static char *read_string(json_reader *r) {
    cn_chat_bytes s = {0};
    cn_error scratch;
    if (cn_chat_bytes_append(&s, "", 0, &scratch) != CN_OK) return (char *)reader_nomem(r);
    while (true) {
        if (r->p >= r->end) {
            reader_fail(r, "unterminated string");
            goto fail;
        }
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            return s.data;
        }
        if (c < 0x20) {
            reader_fail(r, "control character inside a string");
            goto fail;
        }
        unsigned char utf8[4];
        size_t n;
        if (c == '\\') {
            r->p++;
            if (r->p >= r->end) {
                reader_fail(r, "unterminated escape");
                goto fail;
            }
            char e = *r->p++;
            uint32_t cp;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (!read_hex4(r, &cp)) {
                    reader_fail(r, "bad \\u escape");
                    goto fail;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t low;
                    if (!(r->end - r->p >= 2 && r->p[0] == '\\' && r->p[1] == 'u')) {
                        reader_fail(r, "lone high surrogate");
                        goto fail;
                    }
                    r->p += 2;
                    if (!read_hex4(r, &low) || low < 0xDC00 || low > 0xDFFF) {
                        reader_fail(r, "lone high surrogate");
                        goto fail;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    reader_fail(r, "lone low surrogate");
                    goto fail;
                }
                break;
            default:
                r->p--;
                reader_fail(r, "invalid escape");
                goto fail;
            }
            n = cn_chat_utf8_encode(cp, utf8);
            if (cn_chat_bytes_append(&s, utf8, n, &scratch) != CN_OK) {
                reader_nomem(r);
                goto fail;
            }
            continue;
        }
        uint32_t cp;
        n = cn_chat_utf8_decode((const unsigned char *)r->p, (size_t)(r->end - r->p), &cp);
        if (n == 0 || cp == 0) { /* raw C0 80 is not valid input UTF-8 */
            reader_fail(r, "invalid UTF-8");
            goto fail;
        }
        if (cn_chat_bytes_append(&s, r->p, n, &scratch) != CN_OK) {
            reader_nomem(r);
            goto fail;
        }
        r->p += n;
    }
fail:
    cn_chat_bytes_free(&s);
    return NULL;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Number grammar of json.loads: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?, plus NaN,
 * Infinity and -Infinity. The lexeme is kept in valuestring. */
static cJSON *read_number(json_reader *r) {
    const char *begin = r->p;
    double value;
    if (take_literal(r, "NaN")) value = NAN;
    else if (take_literal(r, "Infinity")) value = INFINITY;
    else if (take_literal(r, "-Infinity")) value = -INFINITY;
    else {
        if (r->p < r->end && *r->p == '-') r->p++;
        if (r->p >= r->end || !is_digit(*r->p)) return reader_fail(r, "expected a value");
        if (*r->p == '0') r->p++;
        else while (r->p < r->end && is_digit(*r->p)) r->p++;
        if (r->p + 1 < r->end && *r->p == '.' && is_digit(r->p[1])) {
            r->p++;
            while (r->p < r->end && is_digit(*r->p)) r->p++;
        }
        if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
            const char *e = r->p + 1;
            if (e < r->end && (*e == '+' || *e == '-')) e++;
            if (e < r->end && is_digit(*e)) {
                r->p = e;
                while (r->p < r->end && is_digit(*r->p)) r->p++;
            }
        }
        value = 0; /* set from the lexeme below */
    }
    size_t n = (size_t)(r->p - begin);
    char *lexeme = malloc(n + 1);
    if (!lexeme) return reader_nomem(r);
    memcpy(lexeme, begin, n);
    lexeme[n] = '\0';
    if (isdigit((unsigned char)lexeme[n - 1])) value = strtod(lexeme, NULL);
    cJSON *item = cJSON_CreateNumber(value);
    if (!item) {
        free(lexeme);
        return reader_nomem(r);
    }
    item->valuestring = lexeme;
    return item;
}

static cJSON *read_array(json_reader *r) {
    cJSON *array = cJSON_CreateArray();
    if (!array) return reader_nomem(r);
    skip_whitespace(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return array;
    }
    while (true) {
        cJSON *item = read_value(r);
        if (!item) goto fail;
        if (!cJSON_AddItemToArray(array, item)) {
            cJSON_Delete(item);
            reader_nomem(r);
            goto fail;
        }
        skip_whitespace(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return array;
        }
        reader_fail(r, "expected ',' or ']'");
        goto fail;
    }
fail:
    cJSON_Delete(array);
    return NULL;
}

/* A repeated key replaces the value in place: a Python dict keeps the key's first position. */
static bool object_put(cJSON *object, char *key, cJSON *value) {
    cJSON *existing = cJSON_GetObjectItemCaseSensitive(object, key);
    if (existing) {
        value->string = key;
        return cJSON_ReplaceItemViaPointer(object, existing, value);
    }
    bool ok = cJSON_AddItemToObject(object, key, value);
    free(key);
    return ok;
}

static cJSON *read_object(json_reader *r) {
    cJSON *object = cJSON_CreateObject();
    if (!object) return reader_nomem(r);
    skip_whitespace(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return object;
    }
    while (true) {
        skip_whitespace(r);
        if (r->p >= r->end || *r->p != '"') {
            reader_fail(r, "expected a property name in double quotes");
            goto fail;
        }
        r->p++;
        char *key = read_string(r);
        if (!key) goto fail;
        skip_whitespace(r);
        if (r->p >= r->end || *r->p != ':') {
            free(key);
            reader_fail(r, "expected ':'");
            goto fail;
        }
        r->p++;
        cJSON *value = read_value(r);
        if (!value) {
            free(key);
            goto fail;
        }
        if (!object_put(object, key, value)) {
            cJSON_Delete(value);
            reader_nomem(r);
            goto fail;
        }
        skip_whitespace(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return object;
        }
        reader_fail(r, "expected ',' or '}'");
        goto fail;
    }
fail:
    cJSON_Delete(object);
    return NULL;
}

static cJSON *read_value(json_reader *r) {
    skip_whitespace(r);
    if (r->p >= r->end) return reader_fail(r, "expected a value");
    if (r->depth >= MAX_DEPTH) return reader_fail(r, "nested too deeply");
    char c = *r->p;
    cJSON *v;
    r->depth++;
    if (c == '{') r->p++, v = read_object(r);
    else if (c == '[') r->p++, v = read_array(r);
    else if (c == '"') {
        r->p++;
        char *s = read_string(r);
        v = NULL;
        if (s) {
            v = cJSON_CreateString("");
            if (!v) {
                free(s);
                reader_nomem(r);
            } else {
                cJSON_free(v->valuestring);
                v->valuestring = s;
            }
        }
    } else if (take_literal(r, "true")) v = cJSON_CreateTrue();
    else if (take_literal(r, "false")) v = cJSON_CreateFalse();
    else if (take_literal(r, "null")) v = cJSON_CreateNull();
    else v = read_number(r);
    r->depth--;
    if (!v && !r->failed) reader_nomem(r);
    return v;
}

cn_status cn_chat_json_parse(const char *text, size_t length, cJSON **out, cn_error *err) {
    *out = NULL;
    json_reader r = {.start = text, .p = text, .end = text + length, .err = err};
    cJSON *value = read_value(&r);
    if (!value) return r.status;
    skip_whitespace(&r);
    if (r.p != r.end) {
        cJSON_Delete(value);
        reader_fail(&r, "extra data after the value");
        return CN_ERR_FORMAT;
    }
    *out = value;
    return CN_OK;
}
