/* Safetensors checkpoint directories: config.json plus one file or several shards listed in
 * model.safetensors.index.json. Tensors are used in place from the mapped files.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
 * then the data region, offsets relative to its start. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "format/checkpoint.h"
#include "format/safetensors.h"
#include "format/tensor_names.h"

#define MAX_HEADER_BYTES (256u << 20)

static bool dtype_from_safetensors(const char *s, cn_dtype *out) {
    static const struct {
        const char *name;
        cn_dtype dtype;
    } table[] = {
        {"F32", CN_DTYPE_F32},         {"F16", CN_DTYPE_F16}, {"BF16", CN_DTYPE_BF16},
        {"F8_E4M3", CN_DTYPE_F8_E4M3}, {"F8_E8M0", CN_DTYPE_F8_E8M0}, {"I8", CN_DTYPE_I8},
        {"U8", CN_DTYPE_I8},           {"I32", CN_DTYPE_I32}, {"I64", CN_DTYPE_I64},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(s, table[i].name) == 0) {
            *out = table[i].dtype;
            return true;
        }
    return false;
}

static cn_status add_tensor_entry(cn_checkpoint *ckpt, const char *path, int file_index, const cJSON *entry,
                                  const uint8_t *region, size_t region_size, cn_error *err) {
    const char *name = entry->string;
    if (!cJSON_IsObject(entry)) return cn_fail(err, CN_ERR_FORMAT, "%s: entry for %s is not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return cn_fail(err, CN_ERR_FORMAT, "%s: tensor %s lacks dtype, shape or data_offsets", path, name);
    cn_dtype dtype;
    if (!dtype_from_safetensors(dt->valuestring, &dtype))
        return cn_fail(err, CN_ERR_UNSUPPORTED, "%s: tensor %s has unknown dtype %s", path, name, dt->valuestring);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > CN_MAX_DIMS)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "%s: tensor %s has %d dimensions", path, name, n_dims);
    int64_t dims[CN_MAX_DIMS];
    double elements = 1.0;
    for (int i = 0; i < n_dims; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 1e12 || d->valuedouble != (double)(int64_t)d->valuedouble)
            return cn_fail(err, CN_ERR_FORMAT, "%s: tensor %s has an invalid shape", path, name);
        dims[i] = (int64_t)d->valuedouble;
        elements *= (double)dims[i];
    }
    const cJSON *b = cJSON_GetArrayItem(offsets, 0), *e = cJSON_GetArrayItem(offsets, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(e) || b->valuedouble < 0 || e->valuedouble < b->valuedouble ||
        e->valuedouble > (double)region_size)
        return cn_fail(err, CN_ERR_FORMAT, "%s: tensor %s data_offsets lie outside the file (truncated?)", path, name);
    size_t begin = (size_t)b->valuedouble, end = (size_t)e->valuedouble;
    double expected = elements * cn_dtype_block_bytes(dtype);
    if ((double)(end - begin) != expected)
        return cn_fail(err, CN_ERR_FORMAT, "%s: tensor %s holds %zu bytes, its dtype and shape need %.0f", path, name,
                       end - begin, expected);
    char canonical[256];
    const char *use = name;
    if (cn_tensor_name_is_transformers(name)) {
        if (!cn_tensor_name_from_transformers(name, canonical, sizeof canonical))
            return cn_fail(err, CN_ERR_UNSUPPORTED, "%s: tensor %s is not part of a DeepSeek-V4 model", path, name);
        use = canonical;
        ckpt->naming = CN_NAMES_TRANSFORMERS;
    }
    return cn_checkpoint_add(ckpt, use, name, dtype, n_dims, dims, region + begin, end - begin, file_index, err);
}

cn_status cn_safetensors_add(cn_checkpoint *ckpt, const uint8_t *data, size_t size, const char *path, int file_index,
                             cn_error *err) {
    if (size < 8) return cn_fail(err, CN_ERR_FORMAT, "%s: too short for a safetensors file (%zu bytes)", path, size);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | data[i];
    if (header_len > MAX_HEADER_BYTES || header_len > size - 8)
        return cn_fail(err, CN_ERR_FORMAT, "%s: header length %llu exceeds the file size %zu (truncated or not safetensors)",
                       path, (unsigned long long)header_len, size);
    cJSON *header = cJSON_ParseWithLength((const char *)data + 8, (size_t)header_len);
    if (!header || !cJSON_IsObject(header)) {
        cJSON_Delete(header);
        return cn_fail(err, CN_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    const uint8_t *region = data + 8 + header_len;
    size_t region_size = size - 8 - (size_t)header_len;
    const cJSON *entry;
    cn_status s = CN_OK;
    cJSON_ArrayForEach(entry, header) {
        if (strcmp(entry->string, "__metadata__") == 0) continue;
        if ((s = add_tensor_entry(ckpt, path, file_index, entry, region, region_size, err))) break;
    }
    cJSON_Delete(header);
    return s;
}

static cn_status load_safetensors_file(cn_checkpoint *ckpt, const char *path, cn_error *err) {
    cn_mapped_file *grown = realloc(ckpt->files, (size_t)(ckpt->n_files + 1) * sizeof *grown);
    if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    ckpt->files = grown;
    cn_status s = cn_mapped_file_open(path, &ckpt->files[ckpt->n_files], err);
    if (s) return s;
    int file_index = ckpt->n_files++;
    return cn_safetensors_add(ckpt, ckpt->files[file_index].data, ckpt->files[file_index].size, path, file_index, err);
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Shard file names: from the index's weight_map if present, else every *.safetensors file. */
static cn_status list_shards(const char *dir, char ***out, int *n_out, cJSON **index_out, cn_error *err) {
    char path[4096];
    *out = NULL;
    *n_out = 0;
    *index_out = NULL;
    char **names = NULL;
    int n = 0;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    struct stat st;
    if (stat(path, &st) == 0) {
        char *text;
        cn_status s = cn_read_text_file(path, &text, NULL, err);
        if (s) return s;
        cJSON *index = cJSON_Parse(text);
        free(text);
        const cJSON *map = index ? cJSON_GetObjectItemCaseSensitive(index, "weight_map") : NULL;
        if (!cJSON_IsObject(map)) {
            cJSON_Delete(index);
            return cn_fail(err, CN_ERR_FORMAT, "%s: no weight_map object", path);
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, map) {
            if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
                cn_fail(err, CN_ERR_FORMAT, "%s: weight_map entry %s must name a shard file in the same directory", path,
                        e->string);
                cJSON_Delete(index);
                for (int i = 0; i < n; i++) free(names[i]);
                free(names);
                return CN_ERR_FORMAT;
            }
            bool seen = false;
            for (int i = 0; i < n && !seen; i++) seen = strcmp(names[i], e->valuestring) == 0;
            if (seen) continue;
            char **grown = realloc(names, (size_t)(n + 1) * sizeof *grown);
            if (!grown || !(grown[n] = strdup(e->valuestring))) {
                free(grown ? grown : names);
                cJSON_Delete(index);
                return cn_fail(err, CN_ERR_NOMEM, "out of memory");
            }
            names = grown;
            n++;
        }
        *index_out = index;
    } else {
        DIR *d = opendir(dir);
        if (!d) return cn_fail(err, CN_ERR_IO, "cannot list %s", dir);
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t len = strlen(de->d_name);
            if (len < 12 || strcmp(de->d_name + len - 12, ".safetensors") != 0) continue;
            char **grown = realloc(names, (size_t)(n + 1) * sizeof *grown);
            if (!grown || !(grown[n] = strdup(de->d_name))) {
                free(grown ? grown : names);
                closedir(d);
                return cn_fail(err, CN_ERR_NOMEM, "out of memory");
            }
            names = grown;
            n++;
        }
        closedir(d);
    }
    if (n == 0) {
        cJSON_Delete(*index_out);
        *index_out = NULL;
        free(names);
        return cn_fail(err, CN_ERR_MISSING, "%s: no *.safetensors files", dir);
    }
    qsort(names, (size_t)n, sizeof *names, compare_strings);
    *out = names;
    *n_out = n;
    return CN_OK;
}

cn_status cn_checkpoint_open_safetensors_dir(const char *dir, cn_checkpoint *ckpt, cn_error *err) {
    char path[4096];
    ckpt->naming = CN_NAMES_OFFICIAL;
    snprintf(path, sizeof path, "%s/config.json", dir);
    cn_status s = cn_model_config_from_file(path, &ckpt->config, err);
    if (s) return s;

    char **shards;
    int n_shards;
    cJSON *index;
    if ((s = list_shards(dir, &shards, &n_shards, &index, err))) return s;
    for (int i = 0; i < n_shards && !s; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, shards[i]);
        s = load_safetensors_file(ckpt, path, err);
    }
    /* Every tensor the index promises must be in the shard it names. */
    if (!s && index) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(index, "weight_map")) {
            bool found = false;
            for (int i = 0; i < ckpt->n_tensors && !found; i++) {
                const cn_tensor_record *t = &ckpt->tensors[i];
                const char *file = ckpt->files[t->file_index].path;
                const char *base = strrchr(file, '/');
                found = strcmp(t->source_name, e->string) == 0 && strcmp(base ? base + 1 : file, e->valuestring) == 0;
            }
            if (!found) {
                s = cn_fail(err, CN_ERR_MISSING, "%s/model.safetensors.index.json lists %s in %s, which does not hold it",
                            dir, e->string, e->valuestring);
                break;
            }
        }
    }
    for (int i = 0; i < n_shards; i++) free(shards[i]);
    free(shards);
    cJSON_Delete(index);
    return s;
}
