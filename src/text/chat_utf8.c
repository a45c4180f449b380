#include "text/chat_utf8.h"

size_t cn_chat_utf8_decode(const unsigned char *s, size_t avail, uint32_t *codepoint) {
    if (avail == 0) return 0;
    unsigned char b0 = s[0];
    if (b0 < 0x80) {
        *codepoint = b0;
        return 1;
    }
    if (b0 == 0xC0 && avail >= 2 && s[1] == 0x80) { /* the stored spelling of U+0000 */
        *codepoint = 0;
        return 2;
    }
    size_t length;
    uint32_t cp, min;
    if (b0 >= 0xC2 && b0 <= 0xDF) length = 2, cp = b0 & 0x1F, min = 0x80;
    else if (b0 >= 0xE0 && b0 <= 0xEF) length = 3, cp = b0 & 0x0F, min = 0x800;
    else if (b0 >= 0xF0 && b0 <= 0xF4) length = 4, cp = b0 & 0x07, min = 0x10000;
    else return 0;
    if (avail < length) return 0;
    for (size_t i = 1; i < length; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    *codepoint = cp;
    return length;
}

size_t cn_chat_utf8_encode(uint32_t cp, unsigned char *out) {
    if (cp == 0) {
        out[0] = 0xC0, out[1] = 0x80;
        return 2;
    }
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}
