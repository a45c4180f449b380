#include "tensor/vec.h"

#include <math.h>

float cn_vec_dot(const float *a, const float *b, int64_t n) {
    /* Eight independent partial sums: lets the compiler vectorise without -ffast-math and
     * keeps the rounding error of long dot products low. */
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
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
