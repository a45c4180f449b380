/* Scalar reference decoders for the ggml block formats (kquants.h). Layouts follow ggml's
 * block_q*_K structs (ggml/src/ggml-common.h); written from the layout, checked against the gguf
 * package's numpy dequantisers. */
#include "tensor/kquants.h"

#include <string.h>

#include "tensor/element.h"

/* The products and differences above are ggml's, each rounded on its own: not contracted into
 * FMAs (GCC does not contract in ISO C mode; clang does unless told), so every compiler gives
 * the AVX2 decoders' and the gguf package's values (tests/test_kquants.c). It matters where the
 * target has FMA (aarch64, -march=native): a baseline x86-64 build has nothing to contract into. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return cn_f16_to_f32(h);
}

/* block_q4_K: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles. Group g uses bytes
 * 32·(g/2) .. +31, low nibbles for even g, high for odd. */
static void q4_k_group(const uint8_t *b, int g, float *out) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    int sc, m;
    cn_k4_scale_min(b + 4, g, &sc, &m);
    const float d1 = d * (float)sc, m1 = dmin * (float)m;
    const uint8_t *q = b + 16 + 32 * (g / 2);
    const int shift = 4 * (g & 1);
    for (int l = 0; l < 32; l++) out[l] = d1 * (float)((q[l] >> shift) & 0xf) - m1;
}

/* block_q5_K: as Q4_K with 32 bytes of high bits (qh) before the nibbles; bit g of qh[l] is the
 * fifth bit of element l of group g. */
static void q5_k_group(const uint8_t *b, int g, float *out) {
    const float d = f16_at(b), dmin = f16_at(b + 2);
    int sc, m;
    cn_k4_scale_min(b + 4, g, &sc, &m);
    const float d1 = d * (float)sc, m1 = dmin * (float)m;
    const uint8_t *qh = b + 16, *q = b + 48 + 32 * (g / 2);
    const int shift = 4 * (g & 1);
    for (int l = 0; l < 32; l++) {
        const int v = ((q[l] >> shift) & 0xf) | (((qh[l] >> g) & 1) << 4);
        out[l] = d1 * (float)v - m1;
    }
}

/* block_q6_K: 128 bytes of low nibbles (ql), 64 bytes of 2-bit highs (qh), 16 int8 scales (one
 * per 16 elements), f16 d. Each half h of the block (128 elements) uses ql[64h..], qh[32h..]; its
 * group k (0..3) takes the low (k < 2) or high nibble of ql[64h + 32(k&1) + l] and bits 2k, 2k+1
 * of qh[32h + l]; the value is that 6-bit number minus 32. */
static void q6_k_group(const uint8_t *b, int g, float *out) {
    const int h = g / 4, k = g % 4;
    const uint8_t *ql = b + 64 * h + 32 * (k & 1), *qh = b + 128 + 32 * h;
    const int8_t *scales = (const int8_t *)(const void *)(b + 192);
    const float d = f16_at(b + 208);
    const int shift = k >= 2 ? 4 : 0;
    for (int half = 0; half < 2; half++) {
        const float ds = d * (float)scales[2 * g + half];
        for (int l = 16 * half; l < 16 * half + 16; l++) {
            const int v = (((ql[l] >> shift) & 0xf) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
            out[l] = ds * (float)v;
        }
    }
}

/* block_q2_K: 16 scale bytes (low nibble scale, high nibble min, per 16 elements), 64 bytes of
 * 2-bit codes, f16 d, f16 dmin. Group g = 4h + k takes bits 2k, 2k+1 of qs[32h + l]. */
static void q2_k_group(const uint8_t *b, int g, float *out) {
    const int h = g / 4, k = g % 4;
    const uint8_t *scales = b, *q = b + 16 + 32 * h;
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    for (int half = 0; half < 2; half++) {
        const uint8_t s = scales[2 * g + half];
        const float dl = d * (float)(s & 0xf), ml = dmin * (float)(s >> 4);
        for (int l = 16 * half; l < 16 * half + 16; l++) out[l] = dl * (float)((q[l] >> (2 * k)) & 3) - ml;
    }
}

/* block_q3_K: 32 bytes hmask, 64 bytes of 2-bit codes, 12 bytes of sixteen 6-bit scales, f16 d.
 * Group g = 4h + k takes bits 2k, 2k+1 of qs[32h + l]; bit g of hmask[l] clear subtracts 4. Scale
 * i: low 4 bits from byte i (i < 8, low nibble) or i - 8 (high nibble), top 2 bits from bits
 * 2(i/4), +1 of byte 8 + i%4; the stored value is biased by 32. */
static void q3_k_group(const uint8_t *b, int g, float *out) {
    const int h = g / 4, k = g % 4;
    const uint8_t *hmask = b, *q = b + 32 + 32 * h, *s = b + 96;
    const float d = f16_at(b + 108);
    for (int half = 0; half < 2; half++) {
        const int i = 2 * g + half;
        const int low = i < 8 ? s[i] & 0xf : s[i - 8] >> 4;
        const int high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        const float dl = d * (float)((low | (high << 4)) - 32);
        for (int l = 16 * half; l < 16 * half + 16; l++) {
            const int v = ((q[l] >> (2 * k)) & 3) - (((hmask[l] >> g) & 1) ? 0 : 4);
            out[l] = dl * (float)v;
        }
    }
}

const uint16_t cn_iq2xxs_grid[256] = {
    0x0000, 0x0002, 0x0005, 0x0008, 0x000a, 0x0011, 0x0014, 0x0020, 0x0022, 0x0028, 0x002a, 0x0041,
    0x0044, 0x0050, 0x0058, 0x0061, 0x0064, 0x0080, 0x0082, 0x008a, 0x00a2, 0x0101, 0x0104, 0x0110,
    0x0115, 0x0140, 0x0184, 0x0198, 0x0200, 0x0202, 0x0222, 0x0282, 0x0401, 0x0404, 0x0410, 0x0421,
    0x0424, 0x0440, 0x0442, 0x0448, 0x0460, 0x0481, 0x0484, 0x0490, 0x04a4, 0x0500, 0x0502, 0x0508,
    0x0520, 0x0546, 0x0569, 0x0580, 0x0591, 0x0609, 0x0610, 0x0640, 0x0684, 0x06a4, 0x0800, 0x0805,
    0x0808, 0x0814, 0x0828, 0x0841, 0x0844, 0x0850, 0x0852, 0x0888, 0x0904, 0x0940, 0x0a02, 0x0a14,
    0x1001, 0x1004, 0x1010, 0x1021, 0x1040, 0x1060, 0x1084, 0x1090, 0x1095, 0x1100, 0x1108, 0x1120,
    0x1150, 0x115a, 0x1180, 0x1224, 0x1245, 0x1400, 0x1408, 0x1420, 0x1425, 0x1449, 0x1480, 0x1518,
    0x1562, 0x1600, 0x1616, 0x1801, 0x1804, 0x1810, 0x1840, 0x1881, 0x1900, 0x1905, 0x19a0, 0x1a51,
    0x2000, 0x2002, 0x200a, 0x2044, 0x2061, 0x2080, 0x2082, 0x2129, 0x2148, 0x2200, 0x2202, 0x2401,
    0x2404, 0x2410, 0x2440, 0x2456, 0x2500, 0x2541, 0x2564, 0x2690, 0x2808, 0x2820, 0x2894, 0x2a44,
    0x4001, 0x4004, 0x4010, 0x4018, 0x4021, 0x4024, 0x4040, 0x4048, 0x4056, 0x4060, 0x4081, 0x4084,
    0x4090, 0x4100, 0x4120, 0x4161, 0x4180, 0x4185, 0x4201, 0x4210, 0x4248, 0x4256, 0x4268, 0x4400,
    0x4408, 0x4420, 0x4480, 0x4499, 0x4512, 0x4524, 0x4600, 0x4801, 0x4804, 0x4810, 0x4840, 0x4845,
    0x4900, 0x4958, 0x4961, 0x4982, 0x4a45, 0x4a90, 0x5000, 0x5008, 0x5011, 0x5019, 0x5020, 0x5080,
    0x5088, 0x5104, 0x5142, 0x51a4, 0x5291, 0x5490, 0x5492, 0x550a, 0x5601, 0x5654, 0x5800, 0x5811,
    0x5819, 0x5864, 0x5940, 0x5a08, 0x6004, 0x6010, 0x6040, 0x6068, 0x6100, 0x6155, 0x6218, 0x6260,
    0x6400, 0x6405, 0x6510, 0x6512, 0x6584, 0x6842, 0x8000, 0x8002, 0x800a, 0x8041, 0x8082, 0x8104,
    0x8118, 0x8140, 0x8211, 0x8401, 0x8404, 0x8410, 0x8415, 0x8440, 0x8460, 0x8500, 0x8546, 0x8594,
    0x8609, 0x8640, 0x8660, 0x8802, 0x8904, 0x8a11, 0x9004, 0x9010, 0x9024, 0x9040, 0x90a1, 0x9116,
    0x9180, 0x9245, 0x9400, 0x9422, 0x9444, 0x9551, 0x9881, 0x9920, 0xa002, 0xa050, 0xa085, 0xa109,
    0xa200, 0xa418, 0xa850, 0xa904,
};

/* block_iq2_xxs: f16 d, then per group of 32 two little-endian u32: the first holds four grid
 * indices (one byte per 8 elements), the second four 7-bit sign indices (bits 7l..7l+6) and a
 * 4-bit scale in bits 28..31. A sign index gives 8 sign bits with the eighth the parity of the
 * seven (ggml's ksigns_iq2xs). */
static void iq2_xxs_group(const uint8_t *b, int g, float *out) {
    static const float magnitude[4] = {8.0f, 25.0f, 43.0f, 0.0f};
    const float d = f16_at(b);
    const uint8_t *q = b + 2 + 8 * g;
    uint32_t aux1;
    memcpy(&aux1, q + 4, 4);
    const float db = d * (0.5f + (float)(aux1 >> 28)) * 0.25f;
    for (int l = 0; l < 4; l++) {
        const uint32_t grid = cn_iq2xxs_grid[q[l]];
        const uint32_t sign_index = (aux1 >> (7 * l)) & 127u;
        const uint32_t signs = sign_index | ((uint32_t)__builtin_parity(sign_index) << 7);
        for (int j = 0; j < 8; j++) {
            const float w = db * magnitude[(grid >> (2 * j)) & 3u];
            out[8 * l + j] = (signs >> j) & 1u ? -w : w;
        }
    }
}

/* ggml's block_mxfp4: one E8M0 byte, 16 bytes of E2M1 codes (element l in the low nibble of byte
 * l, element l + 16 in the high nibble). ggml multiplies the doubled code values by half the
 * scale; e < 2 gives a subnormal half scale and e = 255 is 2^127, not NaN. */
static void mxfp4_ggml_group(const uint8_t *b, int g, float *out) {
    static const int8_t doubled[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    (void)g;
    const uint32_t e = b[0];
    const float half = cn_f32_from_bits(e < 2 ? 0x00200000u << e : (e - 1) << 23);
    for (int l = 0; l < 16; l++) {
        out[l] = half * (float)doubled[b[1 + l] & 0xf];
        out[l + 16] = half * (float)doubled[b[1 + l] >> 4];
    }
}

bool cn_kquant_is(cn_dtype t) {
    switch (t) {
    case CN_DTYPE_Q2_K:
    case CN_DTYPE_Q3_K:
    case CN_DTYPE_Q4_K:
    case CN_DTYPE_Q5_K:
    case CN_DTYPE_Q6_K:
    case CN_DTYPE_IQ2_XXS:
    case CN_DTYPE_MXFP4_GGML:
        return true;
    default:
        return false;
    }
}

void cn_kquant_decode32(cn_dtype t, const uint8_t *block, int g, float out[32]) {
    switch (t) {
    case CN_DTYPE_Q2_K: q2_k_group(block, g, out); break;
    case CN_DTYPE_Q3_K: q3_k_group(block, g, out); break;
    case CN_DTYPE_Q4_K: q4_k_group(block, g, out); break;
    case CN_DTYPE_Q5_K: q5_k_group(block, g, out); break;
    case CN_DTYPE_Q6_K: q6_k_group(block, g, out); break;
    case CN_DTYPE_IQ2_XXS: iq2_xxs_group(block, g, out); break;
    case CN_DTYPE_MXFP4_GGML: mxfp4_ggml_group(block, g, out); break;
    default: memset(out, 0, 32 * sizeof *out); break;
    }
}

void cn_kquant_row_to_f32(cn_dtype t, const uint8_t *p, int64_t n, float *out) {
    const int be = cn_dtype_block_elems(t), bb = cn_dtype_block_bytes(t);
    for (int64_t i = 0; i < n; i += 32)
        cn_kquant_decode32(t, p + (size_t)(i / be) * (size_t)bb, (int)((i % be) / 32), out + i);
}
