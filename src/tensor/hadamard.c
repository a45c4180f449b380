#include "tensor/hadamard.h"

#include <math.h>

bool cn_hadamard_size_ok(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

void cn_hadamard_rotate(float *x, int64_t n) {
    for (int64_t stride = 1; stride < n; stride *= 2)
        for (int64_t i = 0; i < n; i += 2 * stride)
            for (int64_t j = i; j < i + stride; j++) {
                const float a = x[j], b = x[j + stride];
                x[j] = a + b;
                x[j + stride] = a - b;
            }
    const float scale = 1.0f / sqrtf((float)n);
    for (int64_t i = 0; i < n; i++) x[i] *= scale;
}
