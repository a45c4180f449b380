#include "text/output_parser_bytes.h"

#include <stdlib.h>
#include <string.h>

bool cn_output_bytes_append(cn_output_bytes *b, const void *bytes, size_t n) {
    if (n == 0 && b->data) return true;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) {
            if (cap > ((size_t)-1) / 2) return false;
            cap *= 2;
        }
        char *grown = realloc(b->data, cap);
        if (!grown) return false;
        b->data = grown;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = 0;
    return true;
}

bool cn_output_bytes_append_str(cn_output_bytes *b, const char *s) { return cn_output_bytes_append(b, s, strlen(s)); }

void cn_output_bytes_clear(cn_output_bytes *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

void cn_output_bytes_free(cn_output_bytes *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *cn_output_bytes_str(const cn_output_bytes *b) { return b->data ? b->data : ""; }
