/* Safetensors images: u64 little-endian header length, a JSON header naming every tensor's
 * dtype, shape and byte range, then the data. */
#ifndef CN_FORMAT_SAFETENSORS_H
#define CN_FORMAT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "format/checkpoint.h"

/* Validates one image already in memory and registers its tensors in ckpt (canonical names),
 * pointing into `data`. `path` names it in messages; file_index is stored in the records. */
cn_status cn_safetensors_add(cn_checkpoint *ckpt, const uint8_t *data, size_t size, const char *path, int file_index,
                             cn_error *err);

#endif
