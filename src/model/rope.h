/* Partial, interleaved rotary embedding on the last r dims of a vector
 * (specs/deepseek-v4.md 4.2), with YaRN frequency interpolation for compressed layers. */
#ifndef CN_MODEL_ROPE_H
#define CN_MODEL_ROPE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "format/model_config.h"

#define CN_ROPE_MAX_DIM 1024

typedef struct {
    int64_t dim;                        /* r: rotated dims (pairs = r/2) */
    float inv_freq[CN_ROPE_MAX_DIM / 2];
} cn_rope;

cn_status cn_rope_init(cn_rope *rope, const cn_rope_config *cfg, int64_t rope_dim, cn_error *err);

/* Rotates pairs (v[n-r+2i], v[n-r+2i+1]) by angle pos·f[i]; `inverse` rotates by -angle
 * (used on the attention output, 5.6). */
void cn_rope_apply(const cn_rope *rope, float *v, int64_t n, int64_t pos, bool inverse);

#endif
