#include "text/chat_bytes.h"

#include <stdlib.h>
#include <string.h>

cn_status cn_chat_bytes_append(cn_chat_bytes *b, const void *data, size_t length, cn_error *err) {
    /* +1 keeps room for the terminating NUL that lets callers print the text. */
    if (length > (size_t)-1 / 2 - b->length - 1) return cn_fail(err, CN_ERR_NOMEM, "chat text too large");
    size_t need = b->length + length + 1;
    if (need > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 256;
        while (capacity < need) capacity *= 2;
        char *grown = realloc(b->data, capacity);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory growing chat text to %zu bytes", capacity);
        b->data = grown;
        b->capacity = capacity;
    }
    if (length) memcpy(b->data + b->length, data, length);
    b->length += length;
    b->data[b->length] = '\0';
    return CN_OK;
}

cn_status cn_chat_bytes_append_str(cn_chat_bytes *b, const char *s, cn_error *err) {
    return cn_chat_bytes_append(b, s, strlen(s), err);
}

cn_status cn_chat_bytes_append_char(cn_chat_bytes *b, char c, cn_error *err) {
    return cn_chat_bytes_append(b, &c, 1, err);
}

void cn_chat_bytes_free(cn_chat_bytes *b) {
    free(b->data);
    b->data = NULL;
    b->length = b->capacity = 0;
}
