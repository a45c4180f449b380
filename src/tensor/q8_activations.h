/* 8-bit activations against K-quant weights (issue 4, item 2): a token's f32 row quantised per
 * 256 elements to int8 with one f32 scale (symmetric, round to nearest even; ggml's Q8_K idea,
 * our own layout), and the Q4_K and Q6_K dot products computed in integers per super-block.
 *
 * The result is defined by the scalar reference below, operation for operation: per weight block
 * the exact integer sums sumi = Σ_g sc_g·Σ_l q4·qx and summ = Σ_g m_g·Σ_l qx (no overflow: at most
 * 8·63·32·15·127 < 2^25), then acc += (dx·d)·sumi − (dx·dmin)·summ in f32, blocks in order. The
 * AVX2 kernel adds the same integers in another order (exact) and repeats the f32 steps, so the
 * two agree bit for bit. Against the f32 dot, the only new error is the activations' rounding:
 * |x − dx·qx| ≤ dx/2 per element, so the result moves by at most Σ_blocks (dx/2)·Σ|w| (plus
 * f32 rounding); tests/test_q8_activations.c holds both to that and measures the typical size. */
#ifndef CN_TENSOR_Q8_ACTIVATIONS_H
#define CN_TENSOR_Q8_ACTIVATIONS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    float d;            /* scale: x ≈ d·q; 0 for an all-zero block, NaN if the block is not finite */
    int8_t q[256];
    int16_t sum16[16];  /* Σ q over each 16 (for Q4_K's mins and Q6_K's offset of 32) */
} cn_q8_block;

/* x has n elements, n a multiple of 256; out has n / 256 blocks. */
void cn_q8_quantize_row(const float *x, int64_t n, cn_q8_block *out);

/* Σ_i W[i]·x[i] for one Q4_K row of n elements (n / 256 blocks at `row`) and a quantised token:
 * the scalar reference. */
float cn_q4_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* The same with AVX2 (bitwise equal); only when cn_cpu_has_avx2_fma(). */
float cn_q4_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* Q6_K the same way: per weight block sumi = Σ_j sc_j·(Σ_l u·qx − 32·sum16_j) over its sixteen
 * 16-element runs, u the unsigned 6-bit code (value u − 32; |sumi| < 2^29), then
 * acc += (dx·d)·sumi. */
float cn_q6_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q6_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);

#endif
