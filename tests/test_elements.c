/* Scalar element conversions against tables produced by torch's own dtypes
 * (scripts/make_element_fixtures.py): every code of e4m3, e8m0, bf16 and f16 decoded, and
 * round-to-nearest-even encoding of f32 to e4m3, bf16 and f16 on edge and random probes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tensor/element.h"

#define DIR "tests/fixtures/elements/"

static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, 4) == 0; }

static void *load(const char *name, size_t expect) {
    size_t size = 0;
    void *p = cn_test_read_file(name, &size);
    CHECKF(p && (expect == 0 || size == expect), "%s missing or %zu bytes (expected %zu)", name, size, expect);
    return p;
}

int main(void) {
    float *t;
    if ((t = load(DIR "e4m3_decode.f32", 256 * 4))) {
        int bad = 0;
        for (int i = 0; i < 256; i++) bad += !same_float(cn_e4m3_to_f32((uint8_t)i), t[i]);
        CHECKF(bad == 0, "%d e4m3 codes decode differently", bad);
        free(t);
    }
    if ((t = load(DIR "e8m0_decode.f32", 256 * 4))) {
        int bad = 0;
        for (int i = 0; i < 256; i++) bad += !same_float(cn_e8m0_to_f32((uint8_t)i), t[i]);
        CHECKF(bad == 0, "%d e8m0 codes decode differently", bad);
        free(t);
    }
    if ((t = load(DIR "bf16_decode.f32", 65536 * 4))) {
        int bad = 0;
        for (int i = 0; i < 65536; i++) bad += !same_float(cn_bf16_to_f32((uint16_t)i), t[i]);
        CHECKF(bad == 0, "%d bf16 patterns decode differently", bad);
        free(t);
    }
    if ((t = load(DIR "f16_decode.f32", 65536 * 4))) {
        int bad = 0;
        for (int i = 0; i < 65536; i++) bad += !same_float(cn_f16_to_f32((uint16_t)i), t[i]);
        CHECKF(bad == 0, "%d f16 patterns decode differently", bad);
        free(t);
    }
    size_t n_bytes = 0;
    float *x = cn_test_read_file(DIR "round_inputs.f32", &n_bytes);
    CHECK(x != NULL);
    const size_t n = n_bytes / 4;
    uint8_t *e4 = load(DIR "round_e4m3.u8", n);
    uint16_t *b16 = load(DIR "round_bf16.u16", n * 2), *h16 = load(DIR "round_f16.u16", n * 2);
    if (x && e4 && b16 && h16) {
        int bad_e4 = 0, bad_b = 0, bad_h = 0;
        for (size_t i = 0; i < n; i++) {
            float clamped = x[i] > 448.0f ? 448.0f : x[i] < -448.0f ? -448.0f : x[i];
            uint8_t c = cn_f32_to_e4m3(clamped);
            /* -0 and +0 both decode to 0; compare values for zero, codes otherwise. */
            bad_e4 += !(c == e4[i] || (cn_e4m3_to_f32(c) == 0.0f && cn_e4m3_to_f32(e4[i]) == 0.0f));
            bad_b += cn_f32_to_bf16(x[i]) != b16[i];
            bad_h += cn_f32_to_f16(x[i]) != h16[i];
        }
        CHECKF(bad_e4 == 0, "%d of %zu probes round to a different e4m3 code", bad_e4, n);
        CHECKF(bad_b == 0, "%d of %zu probes round to a different bf16", bad_b, n);
        CHECKF(bad_h == 0, "%d of %zu probes round to a different f16", bad_h, n);
    }
    /* E2M1 magnitudes (OCP MX spec): codes 0..7 and their negatives. */
    const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    for (int c = 0; c < 16; c++) CHECK(cn_e2m1_to_f32((uint8_t)c) == (c & 8 ? -e2m1[c & 7] : e2m1[c & 7]));
    free(x);
    free(e4);
    free(b16);
    free(h16);
    return cn_test_finish("test_elements");
}
