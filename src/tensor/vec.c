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
