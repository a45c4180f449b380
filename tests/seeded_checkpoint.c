#include "seeded_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/tensor_names.h"

uint64_t cn_fnv1a64(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

uint64_t cn_splitmix64_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void fill_uniform(float *out, int64_t n, uint64_t state, float scale, float offset) {
    for (int64_t i = 0; i < n; i++) {
        float u = (float)(cn_splitmix64_next(&state) >> 40) * 0x1p-24f;
        float centred = 2.0f * u - 1.0f;
        /* Two separately rounded operations, never one fused multiply-add: the generator's
         * definition (docs/fixtures.md), which numpy's f32 arithmetic follows. */
        volatile float scaled = centred * scale;
        out[i] = scaled + offset;
    }
}

static void fill_tid2eid(int64_t *out, int64_t rows, int64_t K, int64_t E, uint64_t state) {
    int64_t *perm = malloc((size_t)E * sizeof *perm);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t e = 0; e < E; e++) perm[e] = e;
        for (int64_t k = 0; k < K; k++) {
            int64_t j = k + (int64_t)(cn_splitmix64_next(&state) % (uint64_t)(E - k));
            int64_t t = perm[k];
            perm[k] = perm[j];
            perm[j] = t;
        }
        memcpy(out + r * K, perm, (size_t)K * sizeof *out);
    }
    free(perm);
}

cn_status cn_seeded_checkpoint_build(const char *dir, uint64_t seed, cn_checkpoint *ckpt, cn_error *err) {
    char path[1024];
    memset(ckpt, 0, sizeof *ckpt);
    snprintf(path, sizeof path, "%s/config.json", dir);
    cn_status s = cn_model_config_from_file(path, &ckpt->config, err);
    if (s) return s;
    ckpt->naming = CN_NAMES_TRANSFORMERS;
    snprintf(path, sizeof path, "%s/tensors.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return cn_fail(err, CN_ERR_IO, "cannot open %s", path);
    char line[1024];
    int line_no = 0;
    while (s == CN_OK && fgets(line, sizeof line, f)) {
        line_no++;
        if (line[0] == '#' || line[0] == '\n') continue;
        char name[512], dtype[16], shape_text[128], recipe[32], scale_text[64], offset_text[64];
        if (sscanf(line, "%511s %15s %127s %31s %63s %63s", name, dtype, shape_text, recipe, scale_text, offset_text) != 6) {
            s = cn_fail(err, CN_ERR_FORMAT, "%s:%d: expected 6 fields", path, line_no);
            break;
        }
        int64_t shape[CN_MAX_DIMS], n = 1;
        int n_dims = 0;
        for (char *p = shape_text, *end; *p && n_dims < CN_MAX_DIMS; p = *end ? end + 1 : end) {
            shape[n_dims] = strtoll(p, &end, 10);
            n *= shape[n_dims++];
        }
        char canonical[256];
        if (!cn_tensor_name_from_transformers(name, canonical, sizeof canonical)) {
            s = cn_fail(err, CN_ERR_FORMAT, "%s:%d: unknown tensor %s", path, line_no, name);
            break;
        }
        uint64_t state = seed ^ cn_fnv1a64(name);
        void *buf;
        cn_dtype dt;
        size_t bytes;
        if (strcmp(recipe, "tid2eid") == 0) {
            dt = CN_DTYPE_I64;
            bytes = (size_t)n * 8;
            buf = malloc(bytes);
            if (buf) fill_tid2eid(buf, shape[0], shape[1], (int64_t)strtod(scale_text, NULL), state);
        } else if (strcmp(recipe, "uniform") == 0) {
            dt = CN_DTYPE_F32;
            bytes = (size_t)n * 4;
            buf = malloc(bytes);
            if (buf) fill_uniform(buf, n, state, strtof(scale_text, NULL), strtof(offset_text, NULL));
        } else {
            s = cn_fail(err, CN_ERR_FORMAT, "%s:%d: unknown recipe %s", path, line_no, recipe);
            break;
        }
        if (!buf) {
            s = cn_fail(err, CN_ERR_NOMEM, "out of memory for %s", name);
            break;
        }
        if ((s = cn_checkpoint_adopt(ckpt, buf, err))) break;
        s = cn_checkpoint_add(ckpt, canonical, name, dt, n_dims, shape, buf, bytes, -1, err);
    }
    fclose(f);
    if (s) cn_checkpoint_close(ckpt);
    return s;
}
