/* Turning bytes a tool produced (a command's output, an HTTP body) into text the model can be
 * sent in a JSON string. */
#ifndef CN_AGENT_TOOL_TEXT_H
#define CN_AGENT_TOOL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A malloc'd NUL-terminated copy of s[0..n) where every ill-formed UTF-8 sequence and every NUL
 * byte becomes U+FFFD (a sequence cut off at the end, as by truncation, too). NULL when out of
 * memory. */
char *cn_tool_text_lossy(const char *s, size_t n);

/* True if s[0..n) is UTF-8 without NUL bytes, allowing a character cut off at the very end. */
bool cn_tool_text_is_text(const char *s, size_t n);

#endif
