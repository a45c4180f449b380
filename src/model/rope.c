#include "model/rope.h"

#include <math.h>

/* Frequencies follow transformers' float32 arithmetic (modeling_rope_utils: default and yarn),
 * which is the reference the tests compare against. */
cn_status cn_rope_init(cn_rope *rope, const cn_rope_config *cfg, int64_t rope_dim, cn_error *err) {
    if (rope_dim <= 0 || rope_dim > CN_ROPE_MAX_DIM || rope_dim % 2)
        return cn_fail(err, CN_ERR_UNSUPPORTED, "rotary dims %lld unsupported (even, at most %d)", (long long)rope_dim,
                       CN_ROPE_MAX_DIM);
    rope->dim = rope_dim;
    const int64_t half = rope_dim / 2;
    const float base = cfg->theta;
    float low = 0.0f, high = 0.0f;
    if (cfg->yarn) {
        /* Correction range: the dims whose wavelength fits beta_fast / beta_slow rotations in
         * the original context (YaRN), truncated to whole dims. */
        const double two_pi = 2.0 * M_PI, L = (double)cfg->yarn_original_max_position;
        double lo = (double)rope_dim * log(L / (cfg->yarn_beta_fast * two_pi)) / (2.0 * log((double)base));
        double hi = (double)rope_dim * log(L / (cfg->yarn_beta_slow * two_pi)) / (2.0 * log((double)base));
        lo = floor(lo);
        hi = ceil(hi);
        if (lo < 0) lo = 0;
        if (hi > (double)(rope_dim - 1)) hi = (double)(rope_dim - 1);
        low = (float)lo;
        high = (float)hi;
        if (low == high) high += 0.001f;
    }
    for (int64_t i = 0; i < half; i++) {
        /* The exponent is rounded to f32 and the power taken in double, as torch's
         * `base ** float32_tensor` does: this reproduces transformers' tables bit for bit. */
        float pos_freq = (float)pow((double)base, (double)((float)(2 * i) / (float)rope_dim));
        float extrapolation = 1.0f / pos_freq;
        if (!cfg->yarn) {
            rope->inv_freq[i] = extrapolation;
            continue;
        }
        float interpolation = 1.0f / (cfg->yarn_factor * pos_freq);
        float ramp = ((float)i - low) / (high - low);
        ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
        float extrapolation_factor = 1.0f - ramp;
        rope->inv_freq[i] = interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
    }
    return CN_OK;
}

void cn_rope_apply(const cn_rope *rope, float *v, int64_t n, int64_t pos, bool inverse) {
    float *x = v + n - rope->dim;
    for (int64_t i = 0; i < rope->dim / 2; i++) {
        float angle = (float)pos * rope->inv_freq[i];
        float c = cosf(angle), s = inverse ? -sinf(angle) : sinf(angle);
        float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * c - b * s;
        x[2 * i + 1] = b * c + a * s;
    }
}
