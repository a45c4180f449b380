/* Read-only memory mapping of a whole file: weights are used in place, never copied. */
#ifndef CN_BASE_MAPPED_FILE_H
#define CN_BASE_MAPPED_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    const uint8_t *data;
    size_t size;
    char *path;
} cn_mapped_file;

cn_status cn_mapped_file_open(const char *path, cn_mapped_file *out, cn_error *err);
void cn_mapped_file_close(cn_mapped_file *file);

/* Reads a whole (small) file into a NUL-terminated heap buffer. */
cn_status cn_read_text_file(const char *path, char **out, size_t *len, cn_error *err);

#endif
