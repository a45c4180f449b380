/* The two JSON jobs of the output parser: writing a DSML string="true" value as the body of
 * a JSON string, and checking that a string="false" value is one strict JSON value. */
#ifndef CN_TEXT_OUTPUT_PARSER_JSON_H
#define CN_TEXT_OUTPUT_PARSER_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "text/output_parser_bytes.h"

/* Appends s[0..n) escaped for the inside of a JSON string, the way DeepSeek's reference
 * decoder writes it (Python json.dumps with ensure_ascii=False): '"', '\\' and control
 * characters are escaped, everything else (non-ASCII included) is copied; invalid UTF-8
 * becomes U+FFFD. With hold_truncated, an incomplete character at the end stays unconsumed.
 * Returns false when memory ran out. */
bool cn_output_json_escape_append(cn_output_bytes *out, const char *s, size_t n, bool hold_truncated,
                                  size_t *consumed);

/* True when s[0..n) is exactly one JSON value (RFC 8259) with optional surrounding
 * whitespace: no trailing text, no leading zeros or '+', strings of valid UTF-8 without raw
 * control characters, nesting at most CN_OUTPUT_JSON_MAX_DEPTH. Otherwise fills why. */
bool cn_output_json_validate(const char *s, size_t n, char *why, size_t why_size);

#define CN_OUTPUT_JSON_MAX_DEPTH 512

#endif
