/* The normalised Walsh-Hadamard rotation of the official lightning indexer (specs/deepseek-v4.md
 * 4.6, `rotate_activation`): x' = H_n · x / sqrt(n), H_n the Sylvester (natural-order) matrix.
 * The official code applies it to indexer queries and keys before their FP4 round trip: H is
 * orthogonal, so q·k is unchanged in exact arithmetic, while one outlier dimension is spread over
 * all n, which keeps it from setting the scale of a whole FP4 block of 32. Scalar reference. */
#ifndef CN_TENSOR_HADAMARD_H
#define CN_TENSOR_HADAMARD_H

#include <stdbool.h>
#include <stdint.h>

/* True for n = 1, 2, 4, ...: the sizes H_n exists for. */
bool cn_hadamard_size_ok(int64_t n);

/* In place, n a power of two: butterflies (a, b) -> (a + b, a - b) at strides 1, 2, 4, ..., n/2,
 * then every value times fp32(1 / sqrt(n)). */
void cn_hadamard_rotate(float *x, int64_t n);

#endif
