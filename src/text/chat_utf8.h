/* UTF-8 checking for text the chat encoder copies into a prompt or into JSON.
 *
 * cJSON strings end at the first NUL byte, so the chat JSON reader (chat_json.h) stores U+0000 as
 * the two bytes C0 80 (the "modified UTF-8" spelling); every writer turns those back into a real
 * NUL byte or into \u0000. Everything else must be well-formed UTF-8 without surrogates. */
#ifndef CN_TEXT_CHAT_UTF8_H
#define CN_TEXT_CHAT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one character at s (avail bytes left). Returns its byte length and sets *codepoint,
 * or returns 0 for an invalid sequence. C0 80 decodes to U+0000. */
size_t cn_chat_utf8_decode(const unsigned char *s, size_t avail, uint32_t *codepoint);

/* Appends the UTF-8 encoding of codepoint to out (room for 4 bytes); U+0000 becomes C0 80.
 * Returns the byte count. */
size_t cn_chat_utf8_encode(uint32_t codepoint, unsigned char *out);

#endif
