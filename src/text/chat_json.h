/* JSON as Python's json module reads and writes it, over cJSON trees.
 *
 * The reference encoder (vLLM's deepseek_v4_encoding.py, docs/chat.md) puts tool schemas, non-string
 * tool arguments and response formats into the prompt with json.dumps(value, ensure_ascii=False):
 * separators ", " and ": ", keys in insertion order, non-ASCII written raw, control characters as
 * \u00XX, and numbers as Python prints them (ints exactly, floats by repr: 1.0, 1e+16, 1e-05).
 * cJSON keeps numbers only as doubles, so the reader here also keeps each number's source text in
 * the item's valuestring (cJSON_Delete frees it); the writer uses that text to tell 1 from 1.0 and
 * to print integers beyond 2^53 exactly. For numbers without it (trees from cJSON_Parse) the writer
 * guesses: integral values below 1e16 print as integers, everything else as a Python float. */
#ifndef CN_TEXT_CHAT_JSON_H
#define CN_TEXT_CHAT_JSON_H

#include "base/error.h"
#include "text/chat_bytes.h"

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parses JSON text the way json.loads does (NaN/Infinity accepted, raw control characters and
 * trailing data refused, a repeated key keeps its first position and its last value) and refuses
 * what would break later: lone surrogates, invalid UTF-8, nesting deeper than 512. U+0000 in
 * strings is stored as C0 80 (chat_utf8.h). The caller frees *out with cJSON_Delete. */
cn_status cn_chat_json_parse(const char *text, size_t length, cJSON **out, cn_error *err);

/* Appends json.dumps(value, ensure_ascii=False) to out. */
cn_status cn_chat_json_dump(const cJSON *value, cn_chat_bytes *out, cn_error *err);

/* Writes repr(value) for a Python float into buf (at least 32 bytes): shortest round-trip digits,
 * fixed notation for exponents -4..15, "NaN"/"Infinity" as json.dumps spells them. */
void cn_chat_python_float_repr(double value, char *buf, size_t size);

#endif
