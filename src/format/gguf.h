/* GGUF v3 (the llama.cpp / ggml container), read in place from memory.
 *
 * Layout (all little-endian): magic "GGUF", u32 version, u64 tensor count, u64 metadata count,
 * the metadata key/value pairs, the tensor infos (name, dims innermost-first, ggml type, offset
 * relative to the data section), padding to `general.alignment` (default 32), then the data.
 *
 * cn_gguf_parse validates the whole container against the buffer size before anything is used:
 * every string, array and tensor lies inside the buffer, sizes do not overflow, tensor data is
 * aligned and in bounds, names and keys are unique. Nothing here knows about DeepSeek-V4; the
 * mapping to canonical tensor names and the model configuration is in gguf_names.c and
 * gguf_checkpoint.c. */
#ifndef CN_FORMAT_GGUF_H
#define CN_FORMAT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "format/checkpoint.h"
#include "tensor/dtype.h"

#define CN_GGUF_DEFAULT_ALIGNMENT 32
#define CN_GGUF_MAX_DIMS 4
/* The GGUF spec caps tensor names at 64 bytes; we accept up to this many to be lenient. */
#define CN_GGUF_MAX_NAME 255

typedef enum {
    CN_GGUF_UINT8 = 0,
    CN_GGUF_INT8 = 1,
    CN_GGUF_UINT16 = 2,
    CN_GGUF_INT16 = 3,
    CN_GGUF_UINT32 = 4,
    CN_GGUF_INT32 = 5,
    CN_GGUF_FLOAT32 = 6,
    CN_GGUF_BOOL = 7,
    CN_GGUF_STRING = 8,
    CN_GGUF_ARRAY = 9,
    CN_GGUF_UINT64 = 10,
    CN_GGUF_INT64 = 11,
    CN_GGUF_FLOAT64 = 12,
    CN_GGUF_VALUE_TYPE_COUNT
} cn_gguf_value_type;

/* A string inside the file: not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} cn_gguf_string;

typedef struct {
    cn_gguf_string key;
    cn_gguf_value_type type;
    /* Arrays only: element type and count. value points at the first element. */
    cn_gguf_value_type elem_type;
    uint64_t count;
    const uint8_t *value;
} cn_gguf_kv;

typedef struct {
    cn_gguf_string name;
    uint32_t ggml_type;
    int n_dims;
    int64_t ne[CN_GGUF_MAX_DIMS]; /* innermost first (ne[0] is the row length); unused dims are 1 */
    uint64_t offset;              /* relative to the data section */
    uint64_t n_bytes;
    const uint8_t *data;
} cn_gguf_tensor_info;

typedef struct {
    uint32_t version;
    cn_gguf_kv *kv;
    size_t n_kv;
    cn_gguf_tensor_info *tensors;
    size_t n_tensors;
    uint64_t alignment;
    uint64_t data_offset; /* start of the data section in the buffer */
} cn_gguf;

/* Parses and validates a whole GGUF file held in data[0, size). The result points into data,
 * which must outlive it. On failure *out is empty and err says what is wrong and where. */
cn_status cn_gguf_parse(const uint8_t *data, size_t size, cn_gguf *out, cn_error *err);
void cn_gguf_free(cn_gguf *g);

/* ggml tensor types. */
const char *cn_ggml_type_name(uint32_t ggml_type);
/* The cn_dtype a ggml type is stored as, or false if we cannot read it yet. */
bool cn_ggml_type_to_dtype(uint32_t ggml_type, cn_dtype *out);

/* Metadata lookup. The getters convert between integer widths and from integers to floats,
 * fail with CN_ERR_MISSING when the key is absent and CN_ERR_FORMAT when its type does not fit. */
const cn_gguf_kv *cn_gguf_find(const cn_gguf *g, const char *key);
bool cn_gguf_string_equals(cn_gguf_string s, const char *text);
cn_status cn_gguf_get_int(const cn_gguf *g, const char *key, int64_t *out, cn_error *err);
cn_status cn_gguf_get_float(const cn_gguf *g, const char *key, double *out, cn_error *err);
cn_status cn_gguf_get_bool(const cn_gguf *g, const char *key, bool *out, cn_error *err);
cn_status cn_gguf_get_string(const cn_gguf *g, const char *key, cn_gguf_string *out, cn_error *err);
/* Element i of an array of numbers (kv must be an array with a fixed-size numeric element type). */
cn_status cn_gguf_array_int(const cn_gguf_kv *kv, uint64_t i, int64_t *out, cn_error *err);
cn_status cn_gguf_array_float(const cn_gguf_kv *kv, uint64_t i, double *out, cn_error *err);

/* Canonical (DeepSeek official) name of a GGUF tensor of a `deepseek4` file, following
 * llama.cpp's names (src/llama-arch.cpp) and antirez/ds4's MTP file (`mtp.K.*`). Blocks numbered
 * n_main_layers or above are MTP blocks (llama.cpp appends them as extra `blk.N`). Returns false
 * for a name that is not part of the DeepSeek-V4 layout (out is then untouched) or does not fit. */
bool cn_gguf_canonical_name(const char *gguf_name, int n_main_layers, char *out, size_t out_size);

/* The inverse: the llama.cpp-style GGUF name of a canonical tensor name (MTP block K becomes
 * `blk.<n_main_layers + K>.`, its NextN tensors `blk.N.nextn.*`). False for names outside the
 * layout (per-expert tensors must be fused into *_exps first) or when out is too small. */
bool cn_gguf_name_from_canonical(const char *canonical, int n_main_layers, char *out, size_t out_size);

/* Registers every tensor of a parsed `deepseek4` GGUF in ckpt under its canonical name and fills
 * ckpt->config from the metadata. file_index is recorded in the tensor records (-1 for none). */
cn_status cn_checkpoint_add_gguf(cn_checkpoint *ckpt, const cn_gguf *g, int file_index, cn_error *err);

#endif
