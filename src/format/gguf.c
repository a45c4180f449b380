/* GGUF v3 container parser (see gguf.h). The reader never touches a byte before checking that
 * it lies inside the buffer, and every count read from the file is bounded by the bytes left
 * before anything is allocated or looped over, so a corrupt file costs at most O(file size). */
#include "format/gguf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC "GGUF"
#define GGUF_VERSION 3
/* Arrays of arrays are legal GGUF; nothing real nests deeply, and a bound keeps recursion safe. */
#define GGUF_MAX_ARRAY_DEPTH 8

/* ---- ggml tensor types ------------------------------------------------------------------- */

typedef struct {
    const char *name;
    uint32_t block_elems, block_bytes;
    int dtype; /* cn_dtype we read it as, or -1 */
} ggml_type_traits;

/* Block sizes from ggml's type traits (ggml/src/ggml.c), so that the data of every known type,
 * readable or not, can be bounds-checked; ids missing from the table are unknown. */
static const ggml_type_traits ggml_types[] = {
    [0] = {"F32", 1, 4, CN_DTYPE_F32},
    [1] = {"F16", 1, 2, CN_DTYPE_F16},
    [2] = {"Q4_0", 32, 18, -1},
    [3] = {"Q4_1", 32, 20, -1},
    [6] = {"Q5_0", 32, 22, -1},
    [7] = {"Q5_1", 32, 24, -1},
    [8] = {"Q8_0", 32, 34, CN_DTYPE_Q8_0},
    [9] = {"Q8_1", 32, 36, -1},
    [10] = {"Q2_K", 256, 84, CN_DTYPE_Q2_K},
    [11] = {"Q3_K", 256, 110, CN_DTYPE_Q3_K},
    [12] = {"Q4_K", 256, 144, CN_DTYPE_Q4_K},
    [13] = {"Q5_K", 256, 176, CN_DTYPE_Q5_K},
    [14] = {"Q6_K", 256, 210, CN_DTYPE_Q6_K},
    [15] = {"Q8_K", 256, 292, -1},
    [16] = {"IQ2_XXS", 256, 66, CN_DTYPE_IQ2_XXS},
    [17] = {"IQ2_XS", 256, 74, -1},
    [18] = {"IQ3_XXS", 256, 98, -1},
    [19] = {"IQ1_S", 256, 50, -1},
    [20] = {"IQ4_NL", 32, 18, -1},
    [21] = {"IQ3_S", 256, 110, -1},
    [22] = {"IQ2_S", 256, 82, -1},
    [23] = {"IQ4_XS", 256, 136, -1},
    [24] = {"I8", 1, 1, CN_DTYPE_I8},
    [25] = {"I16", 1, 2, -1},
    [26] = {"I32", 1, 4, CN_DTYPE_I32},
    [27] = {"I64", 1, 8, CN_DTYPE_I64},
    [28] = {"F64", 1, 8, -1},
    [29] = {"IQ1_M", 256, 56, -1},
    [30] = {"BF16", 1, 2, CN_DTYPE_BF16},
    [34] = {"TQ1_0", 256, 54, -1},
    [35] = {"TQ2_0", 256, 66, -1},
    /* ggml's MXFP4 block (e8m0 scale + 16 bytes, low nibbles = elements 0..15) is not the
     * byte-pair layout of CN_DTYPE_MXFP4 (separate scales), so it is a format of its own. */
    [39] = {"MXFP4", 32, 17, CN_DTYPE_MXFP4_GGML},
    [40] = {"NVFP4", 64, 36, -1},
    [41] = {"Q1_0", 128, 18, -1},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static const ggml_type_traits *ggml_traits(uint32_t t) {
    return t < N_GGML_TYPES && ggml_types[t].name ? &ggml_types[t] : NULL;
}

const char *cn_ggml_type_name(uint32_t ggml_type) {
    const ggml_type_traits *tr = ggml_traits(ggml_type);
    return tr ? tr->name : "unknown";
}

bool cn_ggml_type_to_dtype(uint32_t ggml_type, cn_dtype *out) {
    const ggml_type_traits *tr = ggml_traits(ggml_type);
    if (!tr || tr->dtype < 0) return false;
    *out = (cn_dtype)tr->dtype;
    return true;
}

/* ---- bounded little-endian reader ----------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    cn_error *err;
} reader;

static size_t remaining(const reader *r) { return r->size - r->pos; }

static cn_status truncated(reader *r, const char *what) {
    return cn_fail(r->err, CN_ERR_FORMAT, "GGUF file is truncated: %s at byte %zu runs past the end (%zu bytes)",
                   what, r->pos, r->size);
}

static cn_status read_bytes(reader *r, void *out, size_t n, const char *what) {
    if (remaining(r) < n) return truncated(r, what);
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
    return CN_OK;
}

/* GGUF is little-endian; the memcpy-based readers assume a little-endian host, which
 * cn_gguf_parse checks once. */
static cn_status read_u32(reader *r, uint32_t *out, const char *what) { return read_bytes(r, out, 4, what); }
static cn_status read_u64(reader *r, uint64_t *out, const char *what) { return read_bytes(r, out, 8, what); }

static cn_status read_string(reader *r, cn_gguf_string *out, const char *what) {
    uint64_t len = 0;
    cn_status s = read_u64(r, &len, what);
    if (s) return s;
    if (len > remaining(r))
        return cn_fail(r->err, CN_ERR_FORMAT,
                       "GGUF file is corrupt: %s at byte %zu claims %" PRIu64 " bytes but only %zu remain", what,
                       r->pos - 8, len, remaining(r));
    out->ptr = (const char *)r->data + r->pos;
    out->len = (size_t)len;
    r->pos += (size_t)len;
    return CN_OK;
}

static const char *value_type_name(cn_gguf_value_type t) {
    static const char *names[CN_GGUF_VALUE_TYPE_COUNT] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                                          "bool", "string", "array", "uint64", "int64", "float64"};
    return (unsigned)t < CN_GGUF_VALUE_TYPE_COUNT ? names[t] : "?";
}

/* Bytes of one scalar of a fixed-size type; 0 for strings and arrays. */
static size_t value_size(cn_gguf_value_type t) {
    switch (t) {
    case CN_GGUF_UINT8: case CN_GGUF_INT8: case CN_GGUF_BOOL: return 1;
    case CN_GGUF_UINT16: case CN_GGUF_INT16: return 2;
    case CN_GGUF_UINT32: case CN_GGUF_INT32: case CN_GGUF_FLOAT32: return 4;
    case CN_GGUF_UINT64: case CN_GGUF_INT64: case CN_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

/* The fewest bytes one value of type t can occupy (a string is at least its length field, an
 * array its header), used to bound element counts before looping. */
static size_t min_value_size(cn_gguf_value_type t) {
    if (t == CN_GGUF_STRING) return 8;
    if (t == CN_GGUF_ARRAY) return 12;
    return value_size(t);
}

static cn_status read_value_type(reader *r, cn_gguf_value_type *out, const char *what) {
    uint32_t t = 0;
    cn_status s = read_u32(r, &t, what);
    if (s) return s;
    if (t >= CN_GGUF_VALUE_TYPE_COUNT)
        return cn_fail(r->err, CN_ERR_FORMAT, "GGUF file is corrupt: %s at byte %zu is value type %u (0..12 exist)",
                       what, r->pos - 4, t);
    *out = (cn_gguf_value_type)t;
    return CN_OK;
}

/* Validates and steps over one value of type t. For arrays, fills *elem_type and *count. */
static cn_status skip_value(reader *r, cn_gguf_value_type t, int depth, cn_gguf_value_type *elem_type,
                            uint64_t *count, const char *what) {
    if (t == CN_GGUF_STRING) {
        cn_gguf_string ignored;
        return read_string(r, &ignored, what);
    }
    if (t != CN_GGUF_ARRAY) {
        if (remaining(r) < value_size(t)) return truncated(r, what);
        r->pos += value_size(t);
        return CN_OK;
    }
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return cn_fail(r->err, CN_ERR_UNSUPPORTED, "GGUF %s at byte %zu nests arrays deeper than %d", what, r->pos,
                       GGUF_MAX_ARRAY_DEPTH);
    cn_gguf_value_type et = CN_GGUF_UINT8;
    uint64_t n = 0;
    cn_status s;
    if ((s = read_value_type(r, &et, what))) return s;
    if ((s = read_u64(r, &n, what))) return s;
    if (n > remaining(r) / min_value_size(et))
        return cn_fail(r->err, CN_ERR_FORMAT,
                       "GGUF file is corrupt: %s at byte %zu claims %" PRIu64 " array elements but only %zu bytes remain",
                       what, r->pos - 8, n, remaining(r));
    if (elem_type) *elem_type = et;
    if (count) *count = n;
    if (et != CN_GGUF_STRING && et != CN_GGUF_ARRAY) {
        r->pos += (size_t)n * value_size(et); /* bounded by the check above */
        return CN_OK;
    }
    for (uint64_t i = 0; i < n; i++)
        if ((s = skip_value(r, et, depth + 1, NULL, NULL, what))) return s;
    return CN_OK;
}

/* ---- duplicate detection ---------------------------------------------------------------------- */

static int compare_strings(cn_gguf_string a, cn_gguf_string b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = memcmp(a.ptr, b.ptr, n);
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int compare_string_ptrs(const void *a, const void *b) {
    return compare_strings(**(const cn_gguf_string *const *)a, **(const cn_gguf_string *const *)b);
}

/* Sorting keeps the check O(n log n) however many entries a (hostile) file declares. */
static cn_status check_unique(const cn_gguf_string *first, size_t n, size_t stride, const char *what,
                              cn_error *err) {
    if (n < 2) return CN_OK;
    const cn_gguf_string **sorted = malloc(n * sizeof *sorted);
    if (!sorted) return cn_fail(err, CN_ERR_NOMEM, "out of memory checking GGUF %ss", what);
    for (size_t i = 0; i < n; i++)
        sorted[i] = (const cn_gguf_string *)((const uint8_t *)first + i * stride);
    qsort(sorted, n, sizeof *sorted, compare_string_ptrs);
    cn_status s = CN_OK;
    for (size_t i = 1; i < n && !s; i++)
        if (compare_strings(*sorted[i - 1], *sorted[i]) == 0)
            s = cn_fail(err, CN_ERR_FORMAT, "GGUF file is corrupt: %s \"%.*s\" appears twice", what,
                        (int)(sorted[i]->len > 200 ? 200 : sorted[i]->len), sorted[i]->ptr);
    free(sorted);
    return s;
}

/* ---- metadata --------------------------------------------------------------------------------- */

static cn_status parse_metadata(reader *r, cn_gguf *g, uint64_t n_kv) {
    cn_status s;
    for (uint64_t i = 0; i < n_kv; i++) {
        cn_gguf_kv *kv = &g->kv[i];
        if ((s = read_string(r, &kv->key, "a metadata key"))) return s;
        if ((s = read_value_type(r, &kv->type, "a metadata value type"))) return s;
        kv->value = r->data + r->pos;
        if ((s = skip_value(r, kv->type, 0, &kv->elem_type, &kv->count, "a metadata value"))) {
            cn_error_prefix(r->err, "metadata \"%.*s\"", (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr);
            return s;
        }
        if (kv->type == CN_GGUF_ARRAY) kv->value += 12; /* past element type and count */
        g->n_kv++;
    }
    return check_unique(&g->kv[0].key, g->n_kv, sizeof g->kv[0], "metadata key", r->err);
}

static cn_status read_alignment(cn_gguf *g, cn_error *err) {
    g->alignment = CN_GGUF_DEFAULT_ALIGNMENT;
    const cn_gguf_kv *kv = cn_gguf_find(g, "general.alignment");
    if (!kv) return CN_OK;
    if (kv->type != CN_GGUF_UINT32)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF general.alignment must be a uint32 (it is %s)", value_type_name(kv->type));
    uint32_t a;
    memcpy(&a, kv->value, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF general.alignment %u is not a power of two", a);
    g->alignment = a;
    return CN_OK;
}

/* ---- tensor infos ----------------------------------------------------------------------------- */

static cn_status tensor_byte_size(cn_gguf_tensor_info *t, cn_error *err) {
    const ggml_type_traits *tr = ggml_traits(t->ggml_type);
    const int name_len = (int)t->name.len;
    if (!tr)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF tensor %.*s has unknown ggml type %u", name_len, t->name.ptr,
                       t->ggml_type);
    if (t->ne[0] % tr->block_elems)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF tensor %.*s: row length %" PRId64 " is not a multiple of the %s block (%u)",
                       name_len, t->name.ptr, t->ne[0], tr->name, tr->block_elems);
    /* bytes = ne0/block * block_bytes * ne1 * ne2 * ne3, each step checked against overflow. */
    const uint64_t blocks = (uint64_t)(t->ne[0] / tr->block_elems);
    if (blocks > UINT64_MAX / tr->block_bytes) goto overflow;
    uint64_t bytes = blocks * tr->block_bytes;
    for (int d = 1; d < CN_GGUF_MAX_DIMS; d++) {
        uint64_t n = (uint64_t)t->ne[d];
        if (n && bytes > UINT64_MAX / n) goto overflow;
        bytes *= n;
    }
    t->n_bytes = bytes;
    return CN_OK;
overflow:
    return cn_fail(err, CN_ERR_FORMAT, "GGUF tensor %.*s: size overflows", name_len, t->name.ptr);
}

static cn_status parse_tensor_info(reader *r, cn_gguf_tensor_info *t) {
    cn_status s;
    if ((s = read_string(r, &t->name, "a tensor name"))) return s;
    const int name_len = (int)(t->name.len > 200 ? 200 : t->name.len);
    if (t->name.len == 0 || t->name.len > CN_GGUF_MAX_NAME || memchr(t->name.ptr, 0, t->name.len))
        return cn_fail(r->err, CN_ERR_FORMAT,
                       "GGUF file is corrupt: tensor name at byte %zu is empty, longer than %d bytes or contains NUL",
                       r->pos - t->name.len - 8, CN_GGUF_MAX_NAME);
    uint32_t n_dims = 0;
    if ((s = read_u32(r, &n_dims, "tensor dimension count"))) return s;
    if (n_dims > CN_GGUF_MAX_DIMS)
        return cn_fail(r->err, CN_ERR_FORMAT, "GGUF tensor %.*s has %u dimensions (at most %d)", name_len, t->name.ptr,
                       n_dims, CN_GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    int64_t elements = 1;
    for (int d = 0; d < CN_GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if ((uint32_t)d < n_dims && (s = read_u64(r, &ne, "tensor dimensions"))) return s;
        if (ne > (uint64_t)INT64_MAX || (ne && elements > INT64_MAX / (int64_t)ne))
            return cn_fail(r->err, CN_ERR_FORMAT, "GGUF tensor %.*s: dimension %d (%" PRIu64 ") overflows the element count",
                           name_len, t->name.ptr, d, ne);
        t->ne[d] = (int64_t)ne;
        elements *= (int64_t)ne;
    }
    if ((s = read_u32(r, &t->ggml_type, "tensor type"))) return s;
    if ((s = read_u64(r, &t->offset, "tensor data offset"))) return s;
    return tensor_byte_size(t, r->err);
}

static int compare_offsets(const void *a, const void *b) {
    uint64_t x = (*(const cn_gguf_tensor_info *const *)a)->offset, y = (*(const cn_gguf_tensor_info *const *)b)->offset;
    return x < y ? -1 : x > y;
}

/* Places every tensor in the data section: aligned, inside the buffer, not overlapping. */
static cn_status locate_tensor_data(const uint8_t *data, size_t size, cn_gguf *g, cn_error *err) {
    const uint64_t data_size = g->data_offset <= size ? size - g->data_offset : 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        cn_gguf_tensor_info *t = &g->tensors[i];
        const int name_len = (int)t->name.len;
        if (t->offset % g->alignment)
            return cn_fail(err, CN_ERR_FORMAT, "GGUF tensor %.*s: data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                           name_len, t->name.ptr, t->offset, g->alignment);
        if (t->offset > data_size || t->n_bytes > data_size - t->offset)
            return cn_fail(err, CN_ERR_FORMAT,
                           "GGUF tensor %.*s: data [%" PRIu64 ", +%" PRIu64 ") lies outside the %" PRIu64 "-byte data section (file truncated?)",
                           name_len, t->name.ptr, t->offset, t->n_bytes, data_size);
        t->data = data + g->data_offset + t->offset;
    }
    /* Overlap check on tensors sorted by offset. */
    if (g->n_tensors < 2) return CN_OK;
    const cn_gguf_tensor_info **by_offset = malloc(g->n_tensors * sizeof *by_offset);
    if (!by_offset) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->n_tensors; i++) by_offset[i] = &g->tensors[i];
    qsort(by_offset, g->n_tensors, sizeof *by_offset, compare_offsets);
    cn_status s = CN_OK;
    for (size_t i = 1; i < g->n_tensors && !s; i++) {
        const cn_gguf_tensor_info *a = by_offset[i - 1], *b = by_offset[i];
        if (a->n_bytes && b->n_bytes && a->offset + a->n_bytes > b->offset)
            s = cn_fail(err, CN_ERR_FORMAT, "GGUF tensors %.*s and %.*s overlap", (int)a->name.len, a->name.ptr,
                        (int)b->name.len, b->name.ptr);
    }
    free(by_offset);
    return s;
}

/* ---- entry points ----------------------------------------------------------------------------- */

static bool host_is_little_endian(void) {
    const uint16_t probe = 1;
    uint8_t first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

cn_status cn_gguf_parse(const uint8_t *data, size_t size, cn_gguf *out, cn_error *err) {
    memset(out, 0, sizeof *out);
    if (!host_is_little_endian())
        return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF reading needs a little-endian host");
    reader r = {data, size, 0, err};
    char magic[4] = {0};
    uint64_t n_tensors = 0, n_kv = 0;
    cn_status s;
    if ((s = read_bytes(&r, magic, 4, "the magic"))) return s;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0)
        return cn_fail(err, CN_ERR_FORMAT, "not a GGUF file (magic %02x %02x %02x %02x, expected \"GGUF\")",
                       (uint8_t)magic[0], (uint8_t)magic[1], (uint8_t)magic[2], (uint8_t)magic[3]);
    if ((s = read_u32(&r, &out->version, "the version"))) return s;
    if (out->version != GGUF_VERSION)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "GGUF version %u is not supported (only version 3)", out->version);
    if ((s = read_u64(&r, &n_tensors, "the tensor count"))) return s;
    if ((s = read_u64(&r, &n_kv, "the metadata count"))) return s;
    /* A key/value pair is at least 8 (key length) + 4 (type) + 1 bytes, a tensor info at least
     * 8 + 1 (name) + 4 (dims) + 4 (type) + 8 (offset) bytes: counts beyond that cannot fit. */
    if (n_kv > remaining(&r) / 13)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF file is corrupt: %" PRIu64 " metadata entries cannot fit in %zu bytes",
                       n_kv, size);
    if (n_tensors > remaining(&r) / 25)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF file is corrupt: %" PRIu64 " tensors cannot fit in %zu bytes", n_tensors,
                       size);
    out->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *out->kv);
    out->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *out->tensors);
    if (!out->kv || !out->tensors) {
        cn_gguf_free(out);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory reading GGUF header");
    }
    if ((s = parse_metadata(&r, out, n_kv)) || (s = read_alignment(out, err))) goto fail;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if ((s = parse_tensor_info(&r, &out->tensors[i]))) goto fail;
        out->n_tensors++;
    }
    if ((s = check_unique(&out->tensors[0].name, out->n_tensors, sizeof out->tensors[0], "tensor name", err)))
        goto fail;
    /* The data section starts at the next multiple of the alignment after the tensor infos. */
    out->data_offset = ((uint64_t)r.pos + out->alignment - 1) / out->alignment * out->alignment;
    if ((s = locate_tensor_data(data, size, out, err))) goto fail;
    return CN_OK;
fail:
    cn_gguf_free(out);
    return s;
}

void cn_gguf_free(cn_gguf *g) {
    free(g->kv);
    free(g->tensors);
    memset(g, 0, sizeof *g);
}

/* ---- metadata accessors ----------------------------------------------------------------------- */

bool cn_gguf_string_equals(cn_gguf_string s, const char *text) {
    size_t n = strlen(text);
    return s.len == n && memcmp(s.ptr, text, n) == 0;
}

const cn_gguf_kv *cn_gguf_find(const cn_gguf *g, const char *key) {
    for (size_t i = 0; i < g->n_kv; i++)
        if (cn_gguf_string_equals(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

/* Reads a scalar of numeric type t at p as an integer; false if t is not an integer type or
 * the value does not fit in int64. */
static bool scalar_to_int(cn_gguf_value_type t, const uint8_t *p, int64_t *out) {
    switch (t) {
    case CN_GGUF_UINT8: case CN_GGUF_BOOL: { uint8_t v; memcpy(&v, p, 1); *out = v; return true; }
    case CN_GGUF_INT8: { int8_t v; memcpy(&v, p, 1); *out = v; return true; }
    case CN_GGUF_UINT16: { uint16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case CN_GGUF_INT16: { int16_t v; memcpy(&v, p, 2); *out = v; return true; }
    case CN_GGUF_UINT32: { uint32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case CN_GGUF_INT32: { int32_t v; memcpy(&v, p, 4); *out = v; return true; }
    case CN_GGUF_INT64: { int64_t v; memcpy(&v, p, 8); *out = v; return true; }
    case CN_GGUF_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
        return true;
    }
    default: return false;
    }
}

static bool scalar_to_float(cn_gguf_value_type t, const uint8_t *p, double *out) {
    if (t == CN_GGUF_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        *out = v;
        return true;
    }
    if (t == CN_GGUF_FLOAT64) {
        memcpy(out, p, 8);
        return true;
    }
    int64_t i;
    if (t == CN_GGUF_BOOL || !scalar_to_int(t, p, &i)) return false;
    *out = (double)i;
    return true;
}

static cn_status find_required(const cn_gguf *g, const char *key, const cn_gguf_kv **out, cn_error *err) {
    *out = cn_gguf_find(g, key);
    if (!*out) return cn_fail(err, CN_ERR_MISSING, "GGUF metadata %s is missing", key);
    return CN_OK;
}

cn_status cn_gguf_get_int(const cn_gguf *g, const char *key, int64_t *out, cn_error *err) {
    const cn_gguf_kv *kv;
    cn_status s = find_required(g, key, &kv, err);
    if (s) return s;
    if (kv->type == CN_GGUF_BOOL || !scalar_to_int(kv->type, kv->value, out))
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %s must be an integer (it is %s)", key, value_type_name(kv->type));
    return CN_OK;
}

cn_status cn_gguf_get_float(const cn_gguf *g, const char *key, double *out, cn_error *err) {
    const cn_gguf_kv *kv;
    cn_status s = find_required(g, key, &kv, err);
    if (s) return s;
    if (!scalar_to_float(kv->type, kv->value, out))
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %s must be a number (it is %s)", key, value_type_name(kv->type));
    return CN_OK;
}

cn_status cn_gguf_get_bool(const cn_gguf *g, const char *key, bool *out, cn_error *err) {
    const cn_gguf_kv *kv;
    cn_status s = find_required(g, key, &kv, err);
    if (s) return s;
    int64_t v;
    if (!scalar_to_int(kv->type, kv->value, &v))
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %s must be a bool (it is %s)", key, value_type_name(kv->type));
    *out = v != 0;
    return CN_OK;
}

cn_status cn_gguf_get_string(const cn_gguf *g, const char *key, cn_gguf_string *out, cn_error *err) {
    const cn_gguf_kv *kv;
    cn_status s = find_required(g, key, &kv, err);
    if (s) return s;
    if (kv->type != CN_GGUF_STRING)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %s must be a string (it is %s)", key, value_type_name(kv->type));
    uint64_t len;
    memcpy(&len, kv->value, 8); /* the parser checked that the string fits in the buffer */
    out->len = (size_t)len;
    out->ptr = (const char *)kv->value + 8;
    return CN_OK;
}

static cn_status array_element(const cn_gguf_kv *kv, uint64_t i, const uint8_t **p, cn_error *err) {
    if (kv->type != CN_GGUF_ARRAY || value_size(kv->elem_type) == 0)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %.*s must be an array of numbers", (int)kv->key.len,
                       kv->key.ptr);
    if (i >= kv->count)
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %.*s has %" PRIu64 " elements, element %" PRIu64 " is needed",
                       (int)kv->key.len, kv->key.ptr, kv->count, i);
    *p = kv->value + i * value_size(kv->elem_type);
    return CN_OK;
}

cn_status cn_gguf_array_int(const cn_gguf_kv *kv, uint64_t i, int64_t *out, cn_error *err) {
    const uint8_t *p = NULL;
    cn_status s = array_element(kv, i, &p, err);
    if (s) return s;
    if (!scalar_to_int(kv->elem_type, p, out))
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %.*s must hold integers", (int)kv->key.len, kv->key.ptr);
    return CN_OK;
}

cn_status cn_gguf_array_float(const cn_gguf_kv *kv, uint64_t i, double *out, cn_error *err) {
    const uint8_t *p = NULL;
    cn_status s = array_element(kv, i, &p, err);
    if (s) return s;
    if (!scalar_to_float(kv->elem_type, p, out))
        return cn_fail(err, CN_ERR_FORMAT, "GGUF metadata %.*s must hold numbers", (int)kv->key.len, kv->key.ptr);
    return CN_OK;
}
