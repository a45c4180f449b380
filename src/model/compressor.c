#include "model/compressor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "tensor/hadamard.h"
#include "tensor/matmul.h"
#include "tensor/vec.h"

/* Pools the m (HCA) or 2m (CSA) buffered slots into entry[dc]: per channel, a softmax over
 * the slots' scores weights their values. CSA slot j < m reads the previous window's first
 * half (channel c), slot m + j the current window's second half (channel dc + c).
 * `weights` is scratch for one channel's slots. */
static void pool_window(const cn_kv_compressor *st, int64_t m, bool overlap, int64_t dc, float *weights, float *entry) {
    const int64_t slots = overlap ? 2 * m : m, width = st->width;
    for (int64_t c = 0; c < dc; c++) {
        float mx = -INFINITY, sum = 0.0f, acc = 0.0f;
        for (int64_t j = 0; j < slots; j++) {
            int64_t col = overlap && j >= m ? dc + c : c;
            weights[j] = st->score[j * width + col];
            if (weights[j] > mx) mx = weights[j];
        }
        for (int64_t j = 0; j < slots; j++) sum += (weights[j] = expf(weights[j] - mx));
        for (int64_t j = 0; j < slots; j++) {
            int64_t col = overlap && j >= m ? dc + c : c;
            acc += st->kv[j * width + col] * (weights[j] / sum);
        }
        entry[c] = acc;
    }
}

cn_status cn_compressor_feed(cn_threadpool *pool, const cn_model_config *cfg, const cn_compressor_weights *w,
                             const cn_rope *rope, int ratio, int64_t dc, bool hadamard, cn_kv_compressor *state,
                             cn_kv_rows *rows, const float *a, int64_t S, int64_t p0, cn_error *err) {
    const int64_t D = cfg->hidden_size, m = ratio, width = w->wkv.rows;
    const bool overlap = width == 2 * dc; /* CSA: coff = 2 */
    float *C = cn_scratch_alloc((size_t)(S * width) * sizeof(float));
    float *Z = cn_scratch_alloc((size_t)(S * width) * sizeof(float));
    float *entry = cn_scratch_alloc((size_t)dc * sizeof(float));
    float *weights = cn_scratch_alloc((size_t)(2 * m) * sizeof(float));
    cn_matmul(pool, &w->wkv, a, D, S, C, width);
    cn_matmul(pool, &w->wgate, a, D, S, Z, width);
    cn_status s = CN_OK;
    for (int64_t t = 0; t < S && s == CN_OK; t++) {
        const int64_t p = p0 + t, o = p % m, row = overlap ? m + o : o;
        float *kv = state->kv + row * width, *score = state->score + row * width;
        memcpy(kv, C + t * width, (size_t)width * sizeof(float));
        /* ape is added by the token's offset inside its own window. */
        for (int64_t c = 0; c < width; c++) score[c] = Z[t * width + c] + w->ape[o * width + c];
        if ((p + 1) % m != 0) continue;
        pool_window(state, m, overlap, dc, weights, entry);
        cn_vec_rms_norm(entry, entry, w->norm, dc, cfg->rms_norm_eps);
        cn_rope_apply(rope, entry, dc, p + 1 - m, false); /* position of the window's first token */
        if (hadamard) cn_hadamard_rotate(entry, dc);
        s = cn_kv_rows_append(rows, entry, err);
        if (overlap) { /* the current window becomes the previous one */
            memcpy(state->kv, state->kv + m * width, (size_t)(m * width) * sizeof(float));
            memcpy(state->score, state->score + m * width, (size_t)(m * width) * sizeof(float));
        }
    }
    free(C);
    free(Z);
    free(entry);
    free(weights);
    return s;
}
