#include "tensor/vec.h"

#include <math.h>

#include "base/cpu_clones.h"

CN_CPU_CLONES float cn_vec_dot(const float *a, const float *b, int64_t n) {
    /* 32 independent partial sums (four 8-lane chains) hide the add latency; the order of
     * operations is fixed by n alone, so every caller gets the same rounding for the same row. */
    float acc[32] = {0};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 32; k++) acc[k] += a[i + k] * b[i + k];
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    for (int k = 0; k < 8; k++) acc[k] = (acc[k] + acc[k + 8]) + (acc[k + 16] + acc[k + 24]);
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Element-wise, so the chunks of 32 only let -O2 vectorise it (attention's weighted sum of the
 * values: it was a quarter of a 512-token prefill as a scalar loop). */
CN_CPU_CLONES void cn_vec_axpy(float *restrict y, float a, const float *restrict x, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 32; k++) y[i + k] = y[i + k] + a * x[i + k];
    for (; i < n; i++) y[i] = y[i] + a * x[i];
}

float cn_vec_rms_factor(const float *x, int64_t n, float eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    return 1.0f / sqrtf((float)(ss / (double)n) + eps);
}

void cn_vec_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps) {
    float r = cn_vec_rms_factor(x, n, eps);
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = w[i] * (x[i] * r);
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * r;
}
