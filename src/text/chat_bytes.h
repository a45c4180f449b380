/* A growable byte string for the chat encoder: the rendered prompt and JSON text are built by
 * appending, and every append can fail only by running out of memory (an error value, since a
 * prompt's size is decided by outside input). */
#ifndef CN_TEXT_CHAT_BYTES_H
#define CN_TEXT_CHAT_BYTES_H

#include "base/error.h"

#include <stddef.h>

typedef struct {
    char *data;      /* always NUL-terminated once anything was appended; may hold NUL bytes */
    size_t length;
    size_t capacity;
} cn_chat_bytes;

cn_status cn_chat_bytes_append(cn_chat_bytes *b, const void *data, size_t length, cn_error *err);
cn_status cn_chat_bytes_append_str(cn_chat_bytes *b, const char *s, cn_error *err);
cn_status cn_chat_bytes_append_char(cn_chat_bytes *b, char c, cn_error *err);
void cn_chat_bytes_free(cn_chat_bytes *b);

#endif
