/* json.dumps(value, ensure_ascii=False) over cJSON trees: the bytes the reference encoder puts in a
 * prompt for tool schemas, non-string tool arguments and response formats (chat_json.h). */
#include "text/chat_json.h"

#include "text/chat_utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DEPTH = 512 };

/* repr(float): the shortest digit string that reads back to the same double (the first precision
 * at which %.*e round-trips), laid out as Python's float_repr_style 'short' does: scientific when
 * the decimal exponent is below -4 or at least 16, with a signed exponent of two or more digits;
 * fixed notation otherwise, always with a fractional part. */
void cn_chat_python_float_repr(double value, char *buf, size_t size) {
    if (isnan(value)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(value)) {
        snprintf(buf, size, value > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (value == 0) {
        snprintf(buf, size, signbit(value) ? "-0.0" : "0.0");
        return;
    }
    char sci[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision - 1, value);
        if (strtod(sci, NULL) == value) break;
    }
    /* sci is [-]d[.ddd]e[+-]XX: collect the digits and the exponent. */
    char digits[24];
    size_t ndigits = 0;
    const char *q = sci;
    bool negative = *q == '-';
    if (negative) q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[ndigits++] = *q;
    while (ndigits > 1 && digits[ndigits - 1] == '0') ndigits--;
    digits[ndigits] = '\0';
    int exponent = atoi(q + 1);
    int decimal_point = exponent + 1; /* value = 0.DIGITS * 10^decimal_point */

    char out[64];
    size_t n = 0;
    if (negative) out[n++] = '-';
    if (decimal_point <= -4 || decimal_point > 16) {
        out[n++] = digits[0];
        if (ndigits > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, ndigits - 1);
            n += ndigits - 1;
        }
        snprintf(out + n, sizeof out - n, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    } else if (decimal_point <= 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -decimal_point; i++) out[n++] = '0';
        memcpy(out + n, digits, ndigits);
        out[n + ndigits] = '\0';
    } else if ((size_t)decimal_point >= ndigits) {
        memcpy(out + n, digits, ndigits);
        n += ndigits;
        for (size_t i = ndigits; i < (size_t)decimal_point; i++) out[n++] = '0';
        memcpy(out + n, ".0", 3);
    } else {
        memcpy(out + n, digits, (size_t)decimal_point);
        n += (size_t)decimal_point;
        out[n++] = '.';
        memcpy(out + n, digits + decimal_point, ndigits - (size_t)decimal_point);
        out[n + ndigits - (size_t)decimal_point] = '\0';
    }
    snprintf(buf, size, "%s", out);
}

/* A lexeme without '.', 'e' or 'E' was a Python int; anything else a float. */
static bool lexeme_is_integer(const char *lexeme) {
    if (strcmp(lexeme, "NaN") == 0 || strcmp(lexeme, "Infinity") == 0 || strcmp(lexeme, "-Infinity") == 0)
        return false;
    return strpbrk(lexeme, ".eE") == NULL;
}

static cn_status dump_number(const cJSON *item, cn_chat_bytes *out, cn_error *err) {
    char buf[48];
    const char *lexeme = item->valuestring;
    if (lexeme && lexeme_is_integer(lexeme)) {
        /* Python ints print their exact digits; int("-0") is 0. */
        bool zero = strspn(lexeme + (lexeme[0] == '-'), "0") == strlen(lexeme + (lexeme[0] == '-'));
        return cn_chat_bytes_append_str(out, zero ? "0" : lexeme, err);
    }
    double v = item->valuedouble;
    if (!lexeme && isfinite(v) && v == floor(v) && fabs(v) < 1e16) {
        snprintf(buf, sizeof buf, "%.0f", v == 0 ? 0.0 : v);
        return cn_chat_bytes_append_str(out, buf, err);
    }
    cn_chat_python_float_repr(v, buf, sizeof buf);
    return cn_chat_bytes_append_str(out, buf, err);
}

static cn_status dump_string(const char *s, cn_chat_bytes *out, cn_error *err) {
    cn_status st = cn_chat_bytes_append_char(out, '"', err);
    const unsigned char *p = (const unsigned char *)s;
    size_t avail = strlen(s);
    while (st == CN_OK && avail > 0) {
        uint32_t cp;
        size_t n = cn_chat_utf8_decode(p, avail, &cp);
        if (n == 0) return cn_fail(err, CN_ERR_FORMAT, "JSON string is not valid UTF-8");
        char escape[8];
        switch (cp) {
        case '"': st = cn_chat_bytes_append_str(out, "\\\"", err); break;
        case '\\': st = cn_chat_bytes_append_str(out, "\\\\", err); break;
        case '\n': st = cn_chat_bytes_append_str(out, "\\n", err); break;
        case '\r': st = cn_chat_bytes_append_str(out, "\\r", err); break;
        case '\t': st = cn_chat_bytes_append_str(out, "\\t", err); break;
        case '\b': st = cn_chat_bytes_append_str(out, "\\b", err); break;
        case '\f': st = cn_chat_bytes_append_str(out, "\\f", err); break;
        default:
            if (cp < 0x20) {
                snprintf(escape, sizeof escape, "\\u%04x", (unsigned)cp);
                st = cn_chat_bytes_append_str(out, escape, err);
            } else {
                st = cn_chat_bytes_append(out, p, n, err);
            }
        }
        p += n;
        avail -= n;
    }
    if (st != CN_OK) return st;
    return cn_chat_bytes_append_char(out, '"', err);
}

static cn_status dump_value(const cJSON *v, int depth, cn_chat_bytes *out, cn_error *err) {
    if (depth > MAX_DEPTH) return cn_fail(err, CN_ERR_ARG, "JSON nested deeper than %d", MAX_DEPTH);
    cn_status st;
    if (cJSON_IsNull(v)) return cn_chat_bytes_append_str(out, "null", err);
    if (cJSON_IsTrue(v)) return cn_chat_bytes_append_str(out, "true", err);
    if (cJSON_IsFalse(v)) return cn_chat_bytes_append_str(out, "false", err);
    if (cJSON_IsNumber(v)) return dump_number(v, out, err);
    if (cJSON_IsString(v)) return dump_string(v->valuestring ? v->valuestring : "", out, err);
    if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        bool object = cJSON_IsObject(v);
        if ((st = cn_chat_bytes_append_char(out, object ? '{' : '[', err)) != CN_OK) return st;
        for (const cJSON *child = v->child; child; child = child->next) {
            if (child != v->child && (st = cn_chat_bytes_append_str(out, ", ", err)) != CN_OK) return st;
            if (object) {
                if (!child->string) return cn_fail(err, CN_ERR_ARG, "JSON object member without a key");
                if ((st = dump_string(child->string, out, err)) != CN_OK) return st;
                if ((st = cn_chat_bytes_append_str(out, ": ", err)) != CN_OK) return st;
            }
            if ((st = dump_value(child, depth + 1, out, err)) != CN_OK) return st;
        }
        return cn_chat_bytes_append_char(out, object ? '}' : ']', err);
    }
    return cn_fail(err, CN_ERR_ARG, "JSON value of an unknown kind (cJSON type %d)", v->type);
}

cn_status cn_chat_json_dump(const cJSON *value, cn_chat_bytes *out, cn_error *err) {
    if (!value) return cn_fail(err, CN_ERR_ARG, "no JSON value to write");
    return dump_value(value, 0, out, err);
}
