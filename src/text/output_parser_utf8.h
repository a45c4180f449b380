/* UTF-8 for the output parser. Model text comes from a byte-level BPE detokenizer, so a chunk
 * may end inside a character and the model may even produce byte sequences that are not
 * UTF-8. Every text the parser hands out is valid UTF-8: a character cut by a chunk boundary
 * is held back until it completes, and an invalid sequence becomes U+FFFD, one per maximal
 * invalid subpart (the rule Python's decode(errors="replace") follows, so the text matches
 * what a Hugging Face detokenizer would show). */
#ifndef CN_TEXT_OUTPUT_PARSER_UTF8_H
#define CN_TEXT_OUTPUT_PARSER_UTF8_H

#include <stdbool.h>
#include <stddef.h>

#include "text/output_parser_bytes.h"

typedef enum {
    CN_OUTPUT_UTF8_COMPLETE,  /* a whole valid character of *len bytes */
    CN_OUTPUT_UTF8_TRUNCATED, /* the *len bytes up to the end are a valid start of a character */
    CN_OUTPUT_UTF8_INVALID,   /* *len bytes (the maximal invalid subpart) to replace by U+FFFD */
} cn_output_utf8_kind;

/* Classifies the character starting at s (n >= 1). */
cn_output_utf8_kind cn_output_utf8_next(const char *s, size_t n, size_t *len);

bool cn_output_utf8_valid(const char *s, size_t n);

/* Appends s[0..n) to out with invalid sequences replaced by U+FFFD. With hold_truncated, a
 * valid but incomplete character at the very end is left unconsumed. *consumed receives the
 * bytes used; returns false when memory ran out. */
bool cn_output_utf8_sanitize_append(cn_output_bytes *out, const char *s, size_t n, bool hold_truncated,
                                    size_t *consumed);

#define CN_OUTPUT_UTF8_REPLACEMENT "\xEF\xBF\xBD"

#endif
