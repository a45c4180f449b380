/* UTF-8 decoding with the error rule Rust's String::from_utf8_lossy uses (HF tokenizers' decode):
 * each "maximal subpart" of an ill-formed sequence (Unicode 16.0, section 3.9, U+FFFD substitution)
 * becomes one U+FFFD. A sequence cut short by the end of the buffer is reported separately, so a
 * streaming decoder can wait for the rest instead of replacing it. */
#ifndef CN_TEXT_UNICODE_UTF8_H
#define CN_TEXT_UNICODE_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CN_UTF8_CHAR,       /* a well-formed character: *cp, *n bytes */
    CN_UTF8_INVALID,    /* an ill-formed maximal subpart of *n bytes: one U+FFFD */
    CN_UTF8_INCOMPLETE, /* all len bytes are a valid prefix of a character that needs more */
} cn_utf8_kind;

/* Classifies the sequence at s[0..len), len > 0. */
cn_utf8_kind cn_utf8_next(const uint8_t *s, size_t len, size_t *n, uint32_t *cp);

/* Decodes one character of text already known to be valid UTF-8; returns its length. */
static inline size_t cn_utf8_decode_valid(const uint8_t *s, uint32_t *cp) {
    uint8_t b = s[0];
    if (b < 0x80) { *cp = b; return 1; }
    if (b < 0xE0) { *cp = ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3F); return 2; }
    if (b < 0xF0) {
        *cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
          (s[3] & 0x3F);
    return 4;
}

/* True if s[0..len) is valid UTF-8; otherwise *bad_offset is the first ill-formed byte. */
bool cn_utf8_validate(const uint8_t *s, size_t len, size_t *bad_offset);

/* Appends the UTF-8 encoding of cp (<= U+10FFFF, not a surrogate) to out; returns its length. */
size_t cn_utf8_encode(uint32_t cp, uint8_t out[4]);

#endif
