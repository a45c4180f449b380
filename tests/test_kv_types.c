/* KV row storage in BF16 and FP8 (kv/row_codec.h):
 * - the FP8 row codec against the scalar e4m3/e8m0 references in tensor/element.h: the ue8m0
 *   scale rule, round trips of known values, the bf16 RoPE tail, saturation, row sizes;
 * - for BF16 and FP8 states on tiny and tiny_official: prefill, token-by-token decode and chunks
 *   of 3 give bitwise the same logits, and the logits stay close to the F32 state's (the oracle
 *   path): argmax agreement, mean/max KL and max relative error are printed and bounded;
 * - an FP8 state continues bitwise from a copy and from a serialised image, and an image of
 *   one encoding is refused by a state of another. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_model.h"
#include "kv/row_codec.h"
#include "model/model.h"
#include "sample/logit_stats.h"
#include "tensor/element.h"

static void test_scale_rule(void) {
    /* s = 2^ceil(log2(max(amax, 1e-4) / 448)), as the biased exponent byte. */
    CHECK(cn_kv_fp8_scale_byte(448.0f) == 127);       /* t = 1 exactly: s = 1 */
    CHECK(cn_kv_fp8_scale_byte(449.0f) == 128);       /* t just above 1: s = 2 */
    CHECK(cn_kv_fp8_scale_byte(896.0f) == 128);       /* t = 2 */
    CHECK(cn_kv_fp8_scale_byte(224.0f) == 126);       /* t = 0.5 */
    CHECK(cn_kv_fp8_scale_byte(1.0f) == 127 - 8);     /* t = 1/448 in (2^-9, 2^-8]: s = 2^-8 */
    CHECK(cn_kv_fp8_scale_byte(0.0f) == cn_kv_fp8_scale_byte(1e-4f)); /* amax floor */
    CHECK(cn_kv_fp8_scale_byte(1e-4f) == 127 - 22);   /* 1e-4/448 = 2.23e-7 in (2^-23, 2^-22] */
    for (int e = 106; e < 150; e++) { /* above the 1e-4 floor */
        const float s = cn_e8m0_to_f32((uint8_t)e);
        CHECK(cn_kv_fp8_scale_byte(448.0f * s) == e);           /* exactly the top: no round-up */
        CHECK(cn_kv_fp8_scale_byte(448.0f * s * 1.0001f) == e + 1);
        CHECK(cn_kv_fp8_scale_byte(448.0f * s * 0.5001f) == e);
    }
}

static void test_fp8_rows(void) {
    /* d = 512, rope 64: the official 584-byte row; indexer keys 128 + 4. */
    cn_kv_codec c = cn_kv_codec_make(CN_KV_FP8, 512, 64, 64), k = cn_kv_codec_make(CN_KV_FP8, 128, 0, 0);
    CHECK(c.row_bytes == 584);
    CHECK(k.row_bytes == 132);
    CHECK(cn_kv_codec_make(CN_KV_BF16, 512, 64, 64).row_bytes == 1024);
    CHECK(cn_kv_codec_make(CN_KV_F32, 512, 64, 64).row_bytes == 2048);
    float row[512], back[512];
    uint8_t enc[584];
    for (int i = 0; i < 512; i++) row[i] = sinf((float)i * 0.37f) * (float)(1 + i % 64) * (i < 64 ? 1000.0f : 0.01f);
    row[70] = 3.0e-3f;
    cn_kv_row_encode(&c, row, enc);
    cn_kv_row_decode(&c, enc, back);
    for (int b = 0; b < 7; b++) {
        float amax = 0.0f;
        for (int i = b * 64; i < b * 64 + 64; i++) amax = fmaxf(amax, fabsf(row[i]));
        const uint8_t e = enc[448 + b];
        CHECK(e == cn_kv_fp8_scale_byte(amax));
        const float s = cn_e8m0_to_f32(e);
        CHECK(amax / s <= 448.0f && amax / s > 224.0f); /* the block's top lands in the top binade */
        for (int i = b * 64; i < b * 64 + 64; i++) {
            CHECK(enc[i] == cn_f32_to_e4m3(row[i] / s));
            CHECK(back[i] == cn_e4m3_to_f32(enc[i]) * s);
            CHECK(fabsf(back[i] - row[i]) <= fabsf(row[i]) * 0x1p-4f + s * 0x1p-10f); /* half an ulp of e4m3 */
        }
    }
    CHECK(enc[455] == 0); /* padding */
    for (int i = 448; i < 512; i++) CHECK(back[i] == cn_bf16_to_f32(cn_f32_to_bf16(row[i])));
    /* Known values: powers of two and e4m3 grid points in one block are exact. */
    float known[512] = {0}, kb[512];
    const float grid[] = {448.0f, -448.0f, 1.0f, -0.5f, 0.875f, 240.0f, 0x1p-6f, 0x1p-9f, 1.125f, 0.0f};
    for (int i = 0; i < 10; i++) known[i] = grid[i];
    cn_kv_row_encode(&c, known, enc);
    cn_kv_row_decode(&c, enc, kb);
    CHECK(enc[448] == 127);
    CHECK(enc[0] == 0x7e && enc[1] == 0xfe && enc[2] == 0x38 && enc[3] == 0xb0);
    for (int i = 0; i < 10; i++) CHECKF(kb[i] == grid[i], "known value %g came back as %g", grid[i], kb[i]);
    CHECK(enc[449] == cn_kv_fp8_scale_byte(0.0f) && kb[64] == 0.0f); /* an all-zero block */
    /* Round to nearest even on the grid: 1.0625 is halfway between 1 and 1.125. */
    known[2] = 1.0625f;
    known[3] = 1.1875f; /* halfway between 1.125 and 1.25: to 1.25 (even mantissa) */
    cn_kv_row_encode(&c, known, enc);
    cn_kv_row_decode(&c, enc, kb);
    CHECK(kb[2] == 1.0f && kb[3] == 1.25f);
    /* Idempotent: a decoded row encodes to the same bytes. */
    uint8_t enc2[584];
    cn_kv_row_encode(&c, back, enc);
    cn_kv_row_decode(&c, enc, kb);
    cn_kv_row_encode(&c, kb, enc2);
    CHECK(memcmp(enc, enc2, sizeof enc) == 0);
    /* Indexer keys: one scale for the whole row. */
    float key[128], kback[128];
    uint8_t kenc[132];
    for (int i = 0; i < 128; i++) key[i] = cosf((float)i) * 5.0f;
    key[17] = -7.5f;
    cn_kv_row_encode(&k, key, kenc);
    cn_kv_row_decode(&k, kenc, kback);
    CHECK(kenc[128] == cn_kv_fp8_scale_byte(7.5f) && kenc[129] == 0 && kenc[131] == 0);
    CHECK(kback[17] == -7.5f);
    for (int i = 0; i < 128; i++) CHECK(kback[i] == cn_e4m3_to_f32(cn_f32_to_e4m3(key[i] / cn_e8m0_to_f32(kenc[128]))) * cn_e8m0_to_f32(kenc[128]));
    /* A short nope part (tiny: d = 32, rope 8): one block of 24. */
    cn_kv_codec t = cn_kv_codec_make(CN_KV_FP8, 32, 8, 64);
    CHECK(t.block == 24 && t.row_bytes == 24 + 4 + 16);
    /* V4-Flash per token of context (specs/kv-store.md 4.1): 21 CSA layers add a 512-row and a
     * 128-key every 4 tokens, 20 HCA layers a 512-row every 128 tokens. */
    const double want[3] = {13760.0, 6880.0, 3850.25};
    for (int ty = 0; ty < 3; ty++) {
        const double rb = (double)cn_kv_codec_make((cn_kv_type)ty, 512, 64, 64).row_bytes,
                     kb2 = (double)cn_kv_codec_make((cn_kv_type)ty, 128, 0, 0).row_bytes;
        CHECKF(21.0 * (rb + kb2) / 4.0 + 20.0 * rb / 128.0 == want[ty], "%s: Flash bytes/token",
               cn_kv_type_name((cn_kv_type)ty));
    }
    /* Names. */
    cn_kv_type ty;
    CHECK(cn_kv_type_parse("fp8", &ty) && ty == CN_KV_FP8);
    CHECK(cn_kv_type_parse("bf16", &ty) && ty == CN_KV_BF16);
    CHECK(cn_kv_type_parse("fp4", &ty) && ty == CN_KV_FP4);
    CHECK(!cn_kv_type_parse("fp6", &ty));
}

static void forward(cn_model *m, cn_kv_state *st, const int32_t *ids, int64_t n, float *logits) {
    cn_error err = {0};
    CHECKF(cn_model_forward(m, st, ids, n, logits, NULL, &err) == CN_OK, "%s", err.msg);
}

/* Logits of ids[0..n) in one call, one at a time, and in chunks of 3, all on `type` states. */
static void run_modes(cn_model *m, const cn_kv_options *o, const int32_t *ids, int64_t n, float *pre, float *dec,
                      float *chunk) {
    const int64_t V = m->cfg->vocab_size;
    cn_error err = {0};
    cn_kv_state st;
    CHECK(cn_model_state_init_opts(m, &st, o, &err) == CN_OK);
    forward(m, &st, ids, n, pre);
    cn_kv_state_reset(&st);
    for (int64_t i = 0; i < n; i++) forward(m, &st, ids + i, 1, dec + i * V);
    cn_kv_state_reset(&st);
    for (int64_t i = 0; i < n; i += 3) forward(m, &st, ids + i, n - i < 3 ? n - i : 3, chunk + i * V);
    cn_kv_state_free(&st);
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static void test_model(const char *dir) {
    int32_t ids[512];
    int64_t n;
    cn_model *m = cn_test_open_fixture(dir, 2, ids, 512, &n);
    if (!m) return;
    const int64_t V = m->cfg->vocab_size;
    CHECK(n > 16);
    float *ref = malloc((size_t)(n * V) * sizeof(float)), *pre = malloc((size_t)(n * V) * sizeof(float)),
          *dec = malloc((size_t)(n * V) * sizeof(float)), *chunk = malloc((size_t)(n * V) * sizeof(float));
    const cn_kv_options f32 = {CN_KV_F32, CN_KV_F32};
    run_modes(m, &f32, ids, n, ref, dec, chunk);
    CHECK(memcmp(ref, dec, (size_t)(n * V) * sizeof(float)) == 0);
    const cn_kv_type types[] = {CN_KV_BF16, CN_KV_FP8};
    for (int ti = 0; ti < 2; ti++) {
        const cn_kv_options o = {types[ti], types[ti]};
        const char *name = cn_kv_type_name(types[ti]);
        run_modes(m, &o, ids, n, pre, dec, chunk);
        CHECKF(memcmp(pre, dec, (size_t)(n * V) * sizeof(float)) == 0, "%s %s: decode differs from prefill", dir, name);
        CHECKF(memcmp(pre, chunk, (size_t)(n * V) * sizeof(float)) == 0, "%s %s: chunks of 3 differ from prefill", dir,
               name);
        double kl_sum = 0.0, kl_max = 0.0, rel_max = 0.0;
        int64_t agree = 0;
        for (int64_t i = 0; i < n; i++) {
            const double kl = cn_kl_divergence(ref + i * V, pre + i * V, V), rel = cn_test_rel_error(pre + i * V, ref + i * V, V);
            kl_sum += kl;
            kl_max = kl > kl_max ? kl : kl_max;
            rel_max = rel > rel_max ? rel : rel_max;
            agree += argmax(ref + i * V, V) == argmax(pre + i * V, V);
        }
        const double agreement = (double)agree / (double)n, kl_mean = kl_sum / (double)n;
        printf("%s %-4s vs f32 state: %lld positions, argmax agreement %.4f, KL mean %.3e max %.3e, max rel err %.3e\n",
               dir, name, (long long)n, agreement, kl_mean, kl_max, rel_max);
        /* Bounds: the measured values (docs/engine.md) with margin. A stored key value is off by up
         * to 2^-9 relative in BF16 and 2^-4 in FP8 (3 mantissa bits), so KL, quadratic in the
         * perturbation, should grow by about (2^5)^2 from BF16 to FP8: measured bf16 3.0e-7 /
         * 2.3e-6, fp8 1.5e-3 / 2.7e-3 (tiny / tiny_official). These random-weight models have
         * near-flat logits over 256 / 128 tokens, so FP8 flips argmax on close calls: 87.5% and
         * 92.1% agreement measured; quality on real weights is for `clawnet eval`. */
        const bool bf16 = types[ti] == CN_KV_BF16;
        const double max_kl_mean = bf16 ? 2e-5 : 5e-3, min_agreement = bf16 ? 0.95 : 0.85;
        CHECKF(agreement >= min_agreement, "%s %s: argmax agreement %.4f", dir, name, agreement);
        CHECKF(kl_mean < max_kl_mean, "%s %s: mean KL %.3e", dir, name, kl_mean);
    }
    free(ref);
    free(pre);
    free(dec);
    free(chunk);
    cn_model_close(m);
}

/* test_kv_state's continuation checks on an FP8 state. */
static void test_fp8_snapshot(void) {
    cn_model *m = cn_test_open_model("tests/fixtures/tiny", 2);
    if (!m) return;
    cn_error err = {0};
    const cn_kv_options fp8 = {CN_KV_FP8, CN_KV_FP8};
    const int64_t V = m->cfg->vocab_size, S = 40;
    int32_t ids[40];
    for (int i = 0; i < S; i++) ids[i] = (int32_t)((i * 37 + 11) % V);
    float *want = malloc((size_t)(S * V) * sizeof(float)), *got = malloc((size_t)(S * V) * sizeof(float));
    cn_kv_state st, f32_state;
    CHECK(cn_model_state_init_opts(m, &st, &fp8, &err) == CN_OK);
    CHECK(cn_model_state_init(m, &f32_state, &err) == CN_OK);
    forward(m, &st, ids, S, want);
    const int64_t cuts[] = {1, 4, 7, 8, 9, 17, 32, 39};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        const int64_t k = cuts[c];
        cn_kv_state_reset(&st);
        forward(m, &st, ids, k, got);
        const size_t bytes_at_k = cn_kv_state_bytes(&st);
        cn_kv_state copy, fresh;
        uint8_t *image = NULL;
        size_t size = 0;
        CHECK(cn_kv_state_copy(&copy, &st, &err) == CN_OK);
        CHECK(cn_kv_state_serialize(&st, &image, &size, &err) == CN_OK);
        forward(m, &st, ids + k, S - k, got + k * V);
        CHECKF(memcmp(got, want, (size_t)(S * V) * sizeof(float)) == 0, "fp8 cut %lld: split run differs", (long long)k);
        memset(got + k * V, 0, (size_t)((S - k) * V) * sizeof(float));
        forward(m, &copy, ids + k, S - k, got + k * V);
        CHECKF(memcmp(got, want, (size_t)(S * V) * sizeof(float)) == 0, "fp8 cut %lld: copy differs", (long long)k);
        CHECK(cn_model_state_init_opts(m, &fresh, &fp8, &err) == CN_OK);
        CHECKF(cn_kv_state_deserialize(&fresh, image, size, &err) == CN_OK, "fp8 cut %lld: %s", (long long)k, err.msg);
        CHECK(fresh.n_tokens == k);
        CHECK(cn_kv_state_bytes(&fresh) == bytes_at_k);
        memset(got + k * V, 0, (size_t)((S - k) * V) * sizeof(float));
        forward(m, &fresh, ids + k, S - k, got + k * V);
        CHECKF(memcmp(got, want, (size_t)(S * V) * sizeof(float)) == 0, "fp8 cut %lld: deserialised image differs",
               (long long)k);
        /* The encoding travels with the image: an F32 state refuses it. */
        CHECK(cn_kv_state_deserialize(&f32_state, image, size, &err) == CN_ERR_SHAPE);
        CHECKF(strstr(err.msg, "fp8") != NULL, "%s", err.msg);
        for (size_t cut = 0; cut < size; cut += size / 13 + 1)
            CHECK(cn_kv_state_deserialize(&fresh, image, cut, &err) != CN_OK);
        free(image);
        cn_kv_state_free(&copy);
        cn_kv_state_free(&fresh);
    }
    /* Real savings: bytes per token of rows, FP8 < BF16 < F32. */
    size_t bytes[3];
    for (int t = 0; t < 3; t++) {
        const cn_kv_options o = {(cn_kv_type)t, (cn_kv_type)t};
        cn_kv_state s2;
        CHECK(cn_model_state_init_opts(m, &s2, &o, &err) == CN_OK);
        forward(m, &s2, ids, S, got);
        bytes[t] = cn_kv_state_bytes(&s2);
        cn_kv_state_free(&s2);
    }
    CHECK(bytes[2] < bytes[1] && bytes[1] < bytes[0]);
    cn_kv_state_free(&st);
    cn_kv_state_free(&f32_state);
    free(want);
    free(got);
    cn_model_close(m);
}

int main(void) {
    test_scale_rule();
    test_fp8_rows();
    test_model("tests/fixtures/tiny");
    test_model("tests/fixtures/tiny_official");
    test_fp8_snapshot();
    return cn_test_finish("test_kv_types");
}
