#include "text/output_parser_utf8.h"

/* Well-formed UTF-8 (Unicode table 3-7): the second byte's range depends on the lead byte,
 * which rules out overlong forms, surrogates and code points past U+10FFFF. */
cn_output_utf8_kind cn_output_utf8_next(const char *s, size_t n, size_t *len) {
    const unsigned char *u = (const unsigned char *)s;
    unsigned char lead = u[0];
    if (lead < 0x80) {
        *len = 1;
        return CN_OUTPUT_UTF8_COMPLETE;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) need = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 3;
        if (lead == 0xE0) lo = 0xA0;
        if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 4;
        if (lead == 0xF0) lo = 0x90;
        if (lead == 0xF4) hi = 0x8F;
    } else {
        *len = 1;
        return CN_OUTPUT_UTF8_INVALID;
    }
    size_t i = 1;
    for (; i < need; i++) {
        if (i >= n) {
            *len = i;
            return CN_OUTPUT_UTF8_TRUNCATED;
        }
        unsigned char c = u[i];
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (c < min || c > max) {
            *len = i;
            return CN_OUTPUT_UTF8_INVALID;
        }
    }
    *len = need;
    return CN_OUTPUT_UTF8_COMPLETE;
}

bool cn_output_utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t len;
        if (cn_output_utf8_next(s + i, n - i, &len) != CN_OUTPUT_UTF8_COMPLETE) return false;
        i += len;
    }
    return true;
}

bool cn_output_utf8_sanitize_append(cn_output_bytes *out, const char *s, size_t n, bool hold_truncated,
                                    size_t *consumed) {
    size_t i = 0, run = 0; /* s[run..i) is valid text not yet copied */
    while (i < n) {
        size_t len;
        cn_output_utf8_kind kind = cn_output_utf8_next(s + i, n - i, &len);
        if (kind == CN_OUTPUT_UTF8_COMPLETE) {
            i += len;
            continue;
        }
        if (kind == CN_OUTPUT_UTF8_TRUNCATED && hold_truncated) break;
        if (!cn_output_bytes_append(out, s + run, i - run)) return false;
        if (!cn_output_bytes_append_str(out, CN_OUTPUT_UTF8_REPLACEMENT)) return false;
        i += len;
        run = i;
    }
    if (!cn_output_bytes_append(out, s + run, i - run)) return false;
    *consumed = i;
    return true;
}
