/* UTF-8 classification following Unicode's table of well-formed byte sequences (Table 3-7). */
#include "text/unicode_utf8.h"

/* Second-byte range allowed after each lead byte; later bytes are always 80..BF. */
static bool second_byte_ok(uint8_t lead, uint8_t b) {
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF; /* no overlong 3-byte forms */
    case 0xED: return b >= 0x80 && b <= 0x9F; /* no surrogates */
    case 0xF0: return b >= 0x90 && b <= 0xBF; /* no overlong 4-byte forms */
    case 0xF4: return b >= 0x80 && b <= 0x8F; /* nothing beyond U+10FFFF */
    default: return b >= 0x80 && b <= 0xBF;
    }
}

cn_utf8_kind cn_utf8_next(const uint8_t *s, size_t len, size_t *n, uint32_t *cp) {
    uint8_t lead = s[0];
    size_t need;
    if (lead < 0x80) {
        *n = 1;
        *cp = lead;
        return CN_UTF8_CHAR;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
        need = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 3;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 4;
    } else { /* continuation byte, C0/C1 or F5..FF: never part of a well-formed sequence */
        *n = 1;
        *cp = 0xFFFD;
        return CN_UTF8_INVALID;
    }
    for (size_t i = 1; i < need; i++) {
        if (i == len) {
            *n = len;
            *cp = 0xFFFD;
            return CN_UTF8_INCOMPLETE;
        }
        bool ok = i == 1 ? second_byte_ok(lead, s[1]) : (s[i] & 0xC0) == 0x80;
        if (!ok) { /* the maximal subpart is what came before this byte */
            *n = i;
            *cp = 0xFFFD;
            return CN_UTF8_INVALID;
        }
    }
    *n = need;
    cn_utf8_decode_valid(s, cp);
    return CN_UTF8_CHAR;
}

bool cn_utf8_validate(const uint8_t *s, size_t len, size_t *bad_offset) {
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) { /* ASCII runs dominate: skip them without the general path */
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (cn_utf8_next(s + i, len - i, &n, &cp) != CN_UTF8_CHAR) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += n;
    }
    return true;
}

size_t cn_utf8_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
