/* A growable byte string for the output parser: event text, raw DSML, JSON values. Always
 * NUL-terminated so names and messages can be handed out as C strings. */
#ifndef CN_TEXT_OUTPUT_PARSER_BYTES_H
#define CN_TEXT_OUTPUT_PARSER_BYTES_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
} cn_output_bytes;

/* false when memory ran out (the string is unchanged). */
bool cn_output_bytes_append(cn_output_bytes *b, const void *bytes, size_t n);
bool cn_output_bytes_append_str(cn_output_bytes *b, const char *s);
void cn_output_bytes_clear(cn_output_bytes *b);
void cn_output_bytes_free(cn_output_bytes *b);
/* data, or "" when nothing was ever appended. */
const char *cn_output_bytes_str(const cn_output_bytes *b);

#endif
