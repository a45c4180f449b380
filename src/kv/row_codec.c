#include "kv/row_codec.h"

#include <math.h>
#include <string.h>

#include "tensor/element.h"

const char *cn_kv_type_name(cn_kv_type t) {
    switch (t) {
    case CN_KV_F32: return "f32";
    case CN_KV_BF16: return "bf16";
    case CN_KV_FP8: return "fp8";
    case CN_KV_FP4: return "fp4";
    }
    return NULL;
}

bool cn_kv_type_parse(const char *name, cn_kv_type *out) {
    for (int t = CN_KV_F32; t <= CN_KV_TYPE_LAST; t++)
        if (!strcmp(name, cn_kv_type_name((cn_kv_type)t))) {
            *out = (cn_kv_type)t;
            return true;
        }
    return false;
}

/* FP8 and FP4 rows: [nope codes][scale bytes, padded to 4][rope dims bf16]. */
static int64_t scaled_blocks(const cn_kv_codec *c) {
    const int64_t nope = c->width - c->rope_dim;
    return nope == 0 ? 0 : (nope + c->block - 1) / c->block;
}

static size_t scale_bytes(const cn_kv_codec *c) { return (size_t)((scaled_blocks(c) + 3) / 4 * 4); }

static size_t code_bytes(const cn_kv_codec *c) {
    const size_t nope = (size_t)(c->width - c->rope_dim);
    return c->type == CN_KV_FP4 ? (nope + 1) / 2 : nope;
}

cn_kv_codec cn_kv_codec_make(cn_kv_type type, int64_t width, int64_t rope_dim, int64_t block) {
    cn_kv_codec c = {type, width, rope_dim, 0, 0};
    if (c.rope_dim < 0 || c.rope_dim > width) c.rope_dim = 0;
    const int64_t nope = width - c.rope_dim;
    if (type == CN_KV_FP4) block = CN_KV_FP4_BLOCK;
    c.block = block > 0 && block < nope ? block : (nope > 0 ? nope : 1);
    switch (type) {
    case CN_KV_F32: c.row_bytes = (size_t)width * 4; break;
    case CN_KV_BF16: c.row_bytes = (size_t)width * 2; break;
    case CN_KV_FP8:
    case CN_KV_FP4: c.row_bytes = code_bytes(&c) + scale_bytes(&c) + (size_t)c.rope_dim * 2; break;
    }
    return c;
}

/* amax = max(amax, 1e-4); t = amax * fp32(1/448); s = 2^(E(t) - 127 + (mantissa(t) != 0)):
 * the byte is the biased exponent of s. */
uint8_t cn_kv_fp8_scale_byte(float amax) {
    if (!(amax >= 1e-4f)) amax = isnan(amax) ? amax : 1e-4f;
    const float t = amax * (1.0f / 448.0f);
    const uint32_t bits = cn_f32_bits(t);
    uint32_t e = ((bits >> 23) & 0xffu) + ((bits & 0x7fffffu) != 0);
    if (e > 254) e = 254; /* inf/NaN amax: the largest finite scale, values saturate */
    return (uint8_t)e;
}

/* amax = max(amax, 6 * 2^-126); t = amax * fp32(1/6); s = 2^ceil(log2 t) by the same bit trick. */
uint8_t cn_kv_fp4_scale_byte(float amax) {
    if (!(amax >= 6.0f * 0x1p-126f)) amax = isnan(amax) ? amax : 6.0f * 0x1p-126f;
    const float t = amax * (1.0f / 6.0f);
    const uint32_t bits = cn_f32_bits(t);
    uint32_t e = ((bits >> 23) & 0xffu) + ((bits & 0x7fffffu) != 0);
    if (e > 254) e = 254;
    return (uint8_t)e;
}

static void put_bf16(const float *x, int64_t n, uint8_t *out) {
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = cn_f32_to_bf16(x[i]);
        memcpy(out + 2 * i, &h, 2);
    }
}

static void get_bf16(const uint8_t *in, int64_t n, float *x) {
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, in + 2 * i, 2);
        x[i] = cn_bf16_to_f32(h);
    }
}

void cn_kv_row_encode(const cn_kv_codec *c, const float *row, uint8_t *out) {
    switch (c->type) {
    case CN_KV_F32: memcpy(out, row, (size_t)c->width * 4); return;
    case CN_KV_BF16: put_bf16(row, c->width, out); return;
    case CN_KV_FP8:
    case CN_KV_FP4: break;
    }
    const bool fp4 = c->type == CN_KV_FP4;
    const int64_t nope = c->width - c->rope_dim, nb = scaled_blocks(c);
    uint8_t *scales = out + code_bytes(c);
    if (fp4) memset(out, 0, code_bytes(c)); /* codes are or-ed in, nibble by nibble */
    memset(scales, 0, scale_bytes(c));
    for (int64_t b = 0; b < nb; b++) {
        const int64_t lo = b * c->block, hi = lo + c->block < nope ? lo + c->block : nope;
        float amax = 0.0f;
        for (int64_t i = lo; i < hi; i++) amax = fmaxf(amax, fabsf(row[i]));
        const uint8_t e = fp4 ? cn_kv_fp4_scale_byte(amax) : cn_kv_fp8_scale_byte(amax);
        const float s = cn_e8m0_to_f32(e);
        scales[b] = e;
        /* s = 2^k, so row[i] / s is exact (no rounding before the element rounding). */
        if (fp4)
            for (int64_t i = lo; i < hi; i++) out[i / 2] |= (uint8_t)(cn_f32_to_e2m1(row[i] / s) << (4 * (i & 1)));
        else
            for (int64_t i = lo; i < hi; i++) out[i] = cn_f32_to_e4m3(row[i] / s);
    }
    put_bf16(row + nope, c->rope_dim, scales + scale_bytes(c));
}

void cn_kv_row_decode(const cn_kv_codec *c, const uint8_t *in, float *row) {
    switch (c->type) {
    case CN_KV_F32: memcpy(row, in, (size_t)c->width * 4); return;
    case CN_KV_BF16: get_bf16(in, c->width, row); return;
    case CN_KV_FP8:
    case CN_KV_FP4: break;
    }
    const bool fp4 = c->type == CN_KV_FP4;
    const int64_t nope = c->width - c->rope_dim, nb = scaled_blocks(c);
    const uint8_t *scales = in + code_bytes(c);
    for (int64_t b = 0; b < nb; b++) {
        const int64_t lo = b * c->block, hi = lo + c->block < nope ? lo + c->block : nope;
        const float s = cn_e8m0_to_f32(scales[b]);
        if (fp4)
            for (int64_t i = lo; i < hi; i++) row[i] = cn_e2m1_to_f32((uint8_t)(in[i / 2] >> (4 * (i & 1)))) * s;
        else
            for (int64_t i = lo; i < hi; i++) row[i] = cn_e4m3_to_f32(in[i]) * s;
    }
    get_bf16(scales + scale_bytes(c), c->rope_dim, row + nope);
}
