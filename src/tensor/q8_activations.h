/* 8-bit activations against quantised weights (issue 4, item 2): a token's f32 row quantised to
 * int8 with f32 scales (symmetric, absmax/127, round to nearest even), then each weight row's dot
 * product with it computed in integers per weight block and scaled in f32 once per block.
 *
 * Two activation layouts, as llama.cpp pairs them with the weight formats:
 *  - cn_q8_block (ggml's Q8_K idea, our own layout): 256 elements, one scale, per-16 sums; for
 *    the 256-element super-block formats Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ2_XXS;
 *  - cn_q8_32x8 (ggml's Q8_0 idea): one scale per 32 elements, eight such blocks per record so
 *    that a kernel loads eight scales at once; for Q8_0 and both MXFP4 formats (DeepSeek's, with
 *    its E8M0 scales in a separate per-row array, and ggml's 17-byte block). A row whose width is
 *    not a multiple of 256 leaves the last record's unused blocks zero.
 *
 * Each result is defined by a scalar reference below, operation for operation; the AVX2 and NEON
 * kernels add the same integers in other orders (exact) and repeat the f32 steps, so each equals
 * its reference bit for bit (tests/test_q8_activations.c). Against the f32 dot, the only new error is
 * the activations' rounding: |x − dx·qx| ≤ dx/2 per element, so a result moves by at most
 * Σ_blocks (dx/2)·Σ|w| (plus f32 rounding). A non-finite activation makes its block's scale NaN,
 * so the dot is NaN as the f32 one would be. */
#ifndef CN_TENSOR_Q8_ACTIVATIONS_H
#define CN_TENSOR_Q8_ACTIVATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"

typedef struct {
    float d;            /* scale: x ≈ d·q; 0 for an all-zero block, NaN if the block is not finite */
    int8_t q[256];
    int16_t sum16[16];  /* Σ q over each 16 (for the K-quants' mins and Q6_K's offset of 32) */
} cn_q8_block;

typedef struct {
    float d[8];         /* scale of each 32 (as cn_q8_block.d) */
    int8_t q[256];
    int32_t sum[8];     /* Σ q over each 32: the x86 MXFP4 kernels (one token and many) look codes
                         * up offset to be unsigned (q8_avx2_parts.h, mxfp4_offset_lut) and take
                         * back 12·sum */
} cn_q8_32x8;

/* Fills o->sum from o->q (every quantiser to cn_q8_32x8 ends with it). */
static inline void cn_q8_32x8_fill_sums(cn_q8_32x8 *o) {
    for (int k = 0; k < 8; k++) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += o->q[32 * k + i];
        o->sum[k] = s;
    }
}

/* Which kernels compute the quantisers and the integer dots; every kind gives the same bits.
 * SCALAR and AVX2 are 0 and 1, so a bool "avx2" (the older argument) still means the same. */
typedef enum {
    CN_Q8_SCALAR = 0,  /* the references below */
    CN_Q8_AVX2 = 1,    /* x86-64 with AVX2+FMA (cn_cpu_has_avx2_fma()) */
    CN_Q8_NEON,        /* aarch64 Advanced SIMD, widening multiplies (armv8.0; cn_cpu_has_neon()) */
    CN_Q8_NEON_SDOT,   /* aarch64 with the dot-product instructions (cn_q8_has_neon_sdot()) */
    CN_Q8_AVX512_VNNI, /* x86-64 with AVX-512 F/BW/VL/VNNI besides AVX2 (cn_q8_has_avx512_vnni()): VNNI
                        * kernels for Q4_K, Q8_0 and both MXFP4s (those where the CPU also has
                        * AVX-512 VBMI, else the AVX2 ones), the AVX2 ones for the rest */
} cn_q8_kernel;

/* The fastest kernels this CPU and build have: AVX-512 VNNI, else AVX2, else NEON with SDOT, else
 * NEON, else scalar; unless the environment variable CLAWNET_Q8_KERNEL names a kind (see
 * cn_q8_kernel_name) that runs here: then that one (for measuring one kind against another: all
 * give the same bits). A name that is unknown or not available here is ignored. Read once per
 * process. */
cn_q8_kernel cn_q8_kernel_best(void);
/* "scalar", "avx2", "neon", "neon-sdot", "avx512-vnni". */
const char *cn_q8_kernel_name(cn_q8_kernel k);
/* The kind of that name; false for a name that is none. */
bool cn_q8_kernel_from_name(const char *name, cn_q8_kernel *k);
/* True when this CPU and build can run the kind's kernels (the scalar ones always). */
bool cn_q8_kernel_available(cn_q8_kernel k);
/* True on x86-64 CPUs with AVX-512 F, BW, VL and VNNI whose OS saves the ZMM and opmask state
 * (CPUID leaf 7, XGETBV bits 5-7), besides AVX2+FMA+F16C, when this build has the kernels
 * (q8_dot_avx512_vnni.c); false elsewhere. */
bool cn_q8_has_avx512_vnni(void);
/* True on aarch64 CPUs with the Armv8.2 dot-product instructions (getauxval(AT_HWCAP) &
 * HWCAP_ASIMDDP: Kunpeng 920, Graviton 2 and later, Neoverse N1/V1, Apple M1 and later) when this
 * build has the SDOT kernels (q8_dot_neon_sdot.c compiled with +dotprod); false elsewhere. */
bool cn_q8_has_neon_sdot(void);

/* Which activation layout a weight format's integer dot takes. */
typedef enum { CN_Q8_NONE = 0, CN_Q8_256, CN_Q8_32 } cn_q8_layout;

/* CN_Q8_NONE for the formats without an integer dot (they stay on the f32 kernels). */
cn_q8_layout cn_q8_layout_of(cn_dtype t);

/* Bytes of one quantised row of n elements in a layout (n a multiple of 256 for CN_Q8_256, of 32
 * for CN_Q8_32). */
size_t cn_q8_row_bytes(cn_q8_layout layout, int64_t n);

/* x has n elements (n a multiple of 256); out has n / 256 blocks. */
void cn_q8_quantize_row(const float *x, int64_t n, cn_q8_block *out);
/* x has n elements (n a multiple of 32); out has ceil(n / 256) records. */
void cn_q8_quantize_row_32(const float *x, int64_t n, cn_q8_32x8 *out);
/* The same with AVX2 (bitwise equal, every byte); only when cn_cpu_has_avx2_fma(). */
void cn_q8_quantize_row_avx2(const float *x, int64_t n, cn_q8_block *out);
void cn_q8_quantize_row_32_avx2(const float *x, int64_t n, cn_q8_32x8 *out);
/* The layout's quantiser (the AVX2 one for CN_Q8_AVX2, else the scalar one); out holds
 * cn_q8_row_bytes(layout, n) bytes. */
void cn_q8_quantize(cn_q8_layout layout, const float *x, int64_t n, void *out, cn_q8_kernel kernel);

/* Σ_i W[i]·x[i] for one weight row of n elements in format t (cn_q8_layout_of(t) != NONE) and a
 * token quantised in that layout, by the given kernels (available on this CPU: see
 * cn_q8_kernel_best); all give the scalar reference's bits. row_scales: the row's separate
 * scales, which only CN_DTYPE_MXFP4 has (n / 32 E8M0 bytes: cn_matrix_row_scales); NULL for
 * every other format, which ignores it. */
float cn_q8_dot(cn_dtype t, const uint8_t *row, const uint8_t *row_scales, const void *xq, int64_t n, cn_q8_kernel kernel);

/* Q4_K: per weight block the exact integer sums sumi = Σ_g sc_g·Σ_l q4·qx and
 * summ = Σ_g m_g·Σ_l qx (at most 8·63·32·15·127 < 2^25), then
 * acc += (dx·d)·sumi − (dx·dmin)·summ in f32, blocks in order. */
float cn_q4_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q4_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q4_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q4_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q4_k_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* Q5_K: as Q4_K with the fifth bit (codes 0..31, |sumi| < 2^26). */
float cn_q5_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q5_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q5_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q5_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* Q6_K: per weight block sumi = Σ_j sc_j·(Σ_l u·qx − 32·sum16_j) over its sixteen 16-element
 * runs, u the unsigned 6-bit code (value u − 32; |sumi| < 2^29), then acc += (dx·d)·sumi. */
float cn_q6_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q6_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q6_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q6_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* Q2_K: per weight block sumi = Σ_j sc_j·Σ_l q·qx and summ = Σ_j m_j·sum16_j over its sixteen
 * 16-element runs (sc_j, m_j the low and high nibbles of scale byte j, q the 2-bit code;
 * |sumi| ≤ 16·15·16·3·127 < 2^21, |summ| < 2^19), then acc += (dx·d)·sumi − (dx·dmin)·summ in
 * f32, blocks in order (as Q4_K). */
float cn_q2_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q2_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q2_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q2_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* Q3_K: the value of an element is u − 4 with u = q2 + 4·hbit unsigned (0..7); per weight block
 * sumi = Σ_j sc_j·(Σ_l u·qx − 4·sum16_j), sc_j the 6-bit scale minus 32 (|sumi| < 2^24), then
 * acc += (dx·d)·sumi (as Q6_K with its offset of 32). */
float cn_q3_k_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q3_k_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q3_k_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_q3_k_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* IQ2_XXS: a weight is ((d·(0.5 + s))·0.25)·m·sign with m in {8, 25, 43} and s the group's 4-bit
 * scale; (0.5 + s)·0.25 = (2s + 1)/8 exactly, so per weight block
 * sumi = Σ_g (2s_g + 1)·Σ_l sign·m·qx over its eight 32-element groups (|sumi| ≤ 8·31·32·43·127
 * < 2^26), then acc += (dx·(d·0.125))·sumi (d·0.125 is exact for every f16 d). Against the f32
 * decoder this moves only where the scale was rounded: d·(0.5 + s) and its ·0.25 each round
 * there, here the integers are exact. */
float cn_iq2_xxs_q8_dot_ref(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_iq2_xxs_q8_dot_avx2(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_iq2_xxs_q8_dot_neon(const uint8_t *row, const cn_q8_block *x, int64_t n);
float cn_iq2_xxs_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_block *x, int64_t n);

/* Q8_0: per 32-block b, sumi_b = Σ_l qw·qx (|sumi| ≤ 32·128·127), then
 * lane[b mod 8] += (dw·dx)·sumi_b in f32 (eight partial sums, blocks in order in each), and the
 * result ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
float cn_q8_0_q8_dot_ref(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_q8_0_q8_dot_avx2(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_q8_0_q8_dot_neon(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_q8_0_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_q8_0_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);

/* MXFP4 (both layouts): E2M1 codes c (bit 3 sign) as their doubled values
 * w2 = {0, 1, 2, 3, 4, 6, 8, 12}[c & 7], negated when bit 3 is set (code 8, -0, gives 0), so
 * that W = (2^(e-127) / 2)·w2 exactly. Per 32-block b: sumi_b = Σ_l w2·qx (exact,
 * |sumi| ≤ 32·12·127), then
 *   half = the block's E8M0 scale halved, as an f32 (a power of two, exact: see each format),
 *   scale = half·dx,  t = scale·(float)sumi_b,  lane[b mod 8] = lane[b mod 8] + t,
 * and the result ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)): Q8_0's steps with half in
 * place of dw.
 * CN_DTYPE_MXFP4 (DeepSeek's checkpoints): the row is n / 2 bytes, element 2i in the low nibble of
 * byte i and 2i + 1 in the high one; row_scales[b] is block b's E8M0 byte e, and half is
 * cn_e8m0_to_f32(e)·0.5f (e = 255: NaN, so the dot is NaN; e = 0: 2^-128, subnormal). */
float cn_mxfp4_q8_dot_ref(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_q8_dot_avx2(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_q8_dot_neon(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_q8_dot_neon_sdot(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_q8_dot_avx512_vnni(const uint8_t *row, const uint8_t *row_scales, const cn_q8_32x8 *x, int64_t n);

/* CN_DTYPE_MXFP4_GGML (ggml's block_mxfp4, 17 bytes per 32): byte 0 the E8M0 byte e, then 16
 * bytes whose low nibbles are elements 0..15 and high nibbles 16..31 (kquants.c); half is ggml's
 * 2^(e-128): (e - 1) << 23 as f32 bits for e ≥ 2, 0x00200000 << e for e < 2 (subnormal), so
 * e = 255 is 2^127, not NaN (kquants.c, mxfp4_ggml_group). */
float cn_mxfp4_ggml_q8_dot_ref(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_ggml_q8_dot_avx2(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_ggml_q8_dot_neon(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_ggml_q8_dot_neon_sdot(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);
float cn_mxfp4_ggml_q8_dot_avx512_vnni(const uint8_t *row, const cn_q8_32x8 *x, int64_t n);

/* The _neon kernels run only when cn_cpu_has_neon(), the _neon_sdot ones only when
 * cn_q8_has_neon_sdot() (they are built for armv8.2-a+dotprod); elsewhere both are the reference.
 * The _avx512_vnni ones (q8_dot_avx512_vnni.c) only when cn_q8_has_avx512_vnni(); without an
 * x86-64 SIMD build they are the reference too. */

#endif
