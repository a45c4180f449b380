#include "format/checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *dup_string(const char *s) { return s ? strdup(s) : NULL; }

int64_t cn_tensor_elements(const cn_tensor_record *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

const cn_tensor_record *cn_checkpoint_find(const cn_checkpoint *ckpt, const char *name) {
    /* Linear scan: lookups happen once per tensor at bind time, a few thousand at most. */
    for (int i = 0; i < ckpt->n_tensors; i++)
        if (strcmp(ckpt->tensors[i].name, name) == 0) return &ckpt->tensors[i];
    return NULL;
}

cn_status cn_checkpoint_add(cn_checkpoint *ckpt, const char *name, const char *source_name,
                            cn_dtype dtype, int n_dims, const int64_t *shape, const uint8_t *data,
                            size_t n_bytes, int file_index, cn_error *err) {
    if (n_dims < 0 || n_dims > CN_MAX_DIMS)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "tensor %s has %d dimensions (at most %d supported)",
                       source_name ? source_name : name, n_dims, CN_MAX_DIMS);
    if (cn_checkpoint_find(ckpt, name))
        return cn_fail(err, CN_ERR_FORMAT, "tensor %s appears twice (as %s)", name,
                       source_name ? source_name : name);
    if (ckpt->n_tensors == ckpt->cap_tensors) {
        int cap = ckpt->cap_tensors ? 2 * ckpt->cap_tensors : 256;
        cn_tensor_record *grown = realloc(ckpt->tensors, (size_t)cap * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        ckpt->tensors = grown;
        ckpt->cap_tensors = cap;
    }
    cn_tensor_record *t = &ckpt->tensors[ckpt->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = dup_string(name);
    t->source_name = dup_string(source_name ? source_name : name);
    if (!t->name || !t->source_name) {
        free(t->name);
        free(t->source_name);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    t->dtype = dtype;
    t->n_dims = n_dims;
    for (int i = 0; i < n_dims; i++) t->shape[i] = shape[i];
    t->data = data;
    t->n_bytes = n_bytes;
    t->file_index = file_index;
    ckpt->n_tensors++;
    return CN_OK;
}

cn_status cn_checkpoint_adopt(cn_checkpoint *ckpt, void *buf, cn_error *err) {
    void **grown = realloc(ckpt->owned, (size_t)(ckpt->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(buf);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    ckpt->owned = grown;
    ckpt->owned[ckpt->n_owned++] = buf;
    return CN_OK;
}

void cn_checkpoint_close(cn_checkpoint *ckpt) {
    for (int i = 0; i < ckpt->n_tensors; i++) {
        free(ckpt->tensors[i].name);
        free(ckpt->tensors[i].source_name);
    }
    free(ckpt->tensors);
    for (int i = 0; i < ckpt->n_files; i++) cn_mapped_file_close(&ckpt->files[i]);
    free(ckpt->files);
    for (int i = 0; i < ckpt->n_owned; i++) free(ckpt->owned[i]);
    free(ckpt->owned);
    free(ckpt->path);
    memset(ckpt, 0, sizeof *ckpt);
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

cn_status cn_checkpoint_open(const char *path, cn_checkpoint *ckpt, cn_error *err) {
    memset(ckpt, 0, sizeof *ckpt);
    struct stat st;
    if (stat(path, &st) != 0) return cn_fail(err, CN_ERR_IO, "model path %s does not exist", path);
    cn_status s;
    if (S_ISDIR(st.st_mode)) s = cn_checkpoint_open_safetensors_dir(path, ckpt, err);
    else if (has_suffix(path, ".gguf")) s = cn_checkpoint_open_gguf(path, ckpt, err);
    else
        return cn_fail(err, CN_ERR_UNSUPPORTED,
                       "%s: expected a checkpoint directory (config.json + *.safetensors) or a .gguf file",
                       path);
    if (s != CN_OK) {
        cn_checkpoint_close(ckpt);
        return s;
    }
    ckpt->path = strdup(path);
    return CN_OK;
}
