/* Snapshot and restore of the per-sequence state: continuing from a copy, or from a
 * serialised image loaded into a fresh state, gives bitwise the same logits as the
 * uninterrupted run; corrupt and truncated images are refused. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/model.h"

static const char *fixture = "tests/fixtures/tiny";

static void run(cn_model *m, cn_kv_state *st, const int32_t *ids, int64_t n, float *logits) {
    cn_error err = {0};
    CHECKF(cn_model_forward(m, st, ids, n, logits, NULL, &err) == CN_OK, "%s", err.msg);
}

int main(void) {
    cn_error err = {0};
    cn_model *m = NULL;
    if (cn_model_open(fixture, 2, &m, &err)) {
        CHECKF(0, "%s", err.msg);
        return cn_test_finish("test_kv_state");
    }
    const int64_t V = m->cfg->vocab_size, S = 40;
    int32_t ids[40];
    for (int i = 0; i < S; i++) ids[i] = (int32_t)((i * 37 + 11) % V);
    float *want = malloc((size_t)(S * V) * sizeof(float)), *got = malloc((size_t)(S * V) * sizeof(float));
    cn_kv_state st;
    CHECK(cn_model_state_init(m, &st, &err) == CN_OK);
    run(m, &st, ids, S, want);

    /* Snapshot at every boundary class: inside a window, at its end, past the ring size. */
    const int64_t cuts[] = {1, 3, 4, 7, 8, 9, 16, 17, 31, 32, 39};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        const int64_t k = cuts[c];
        cn_kv_state_reset(&st);
        run(m, &st, ids, k, got);
        cn_kv_state copy;
        uint8_t *image = NULL;
        size_t size = 0;
        CHECK(cn_kv_state_copy(&copy, &st, &err) == CN_OK);
        CHECK(cn_kv_state_serialize(&st, &image, &size, &err) == CN_OK);
        run(m, &st, ids + k, S - k, got + k * V); /* the original continues */
        CHECKF(memcmp(got, want, (size_t)(S * V) * sizeof(float)) == 0, "cut %lld: split run differs", (long long)k);

        memset(got + k * V, 0, (size_t)((S - k) * V) * sizeof(float));
        run(m, &copy, ids + k, S - k, got + k * V);
        CHECKF(memcmp(got + k * V, want + k * V, (size_t)((S - k) * V) * sizeof(float)) == 0,
               "cut %lld: continuing from a copy differs", (long long)k);

        cn_kv_state fresh;
        CHECK(cn_model_state_init(m, &fresh, &err) == CN_OK);
        CHECKF(cn_kv_state_deserialize(&fresh, image, size, &err) == CN_OK, "cut %lld: %s", (long long)k, err.msg);
        CHECK(fresh.n_tokens == k);
        memset(got + k * V, 0, (size_t)((S - k) * V) * sizeof(float));
        run(m, &fresh, ids + k, S - k, got + k * V);
        CHECKF(memcmp(got + k * V, want + k * V, (size_t)((S - k) * V) * sizeof(float)) == 0,
               "cut %lld: continuing from a deserialised image differs", (long long)k);

        /* Damage: every truncation length class and a flipped byte are refused. */
        cn_kv_state_reset(&fresh);
        for (size_t cut = 0; cut < size; cut += size / 17 + 1)
            CHECKF(cn_kv_state_deserialize(&fresh, image, cut, &err) != CN_OK, "truncated image (%zu of %zu) accepted", cut, size);
        image[size / 2] ^= 0x40;
        CHECK(cn_kv_state_deserialize(&fresh, image, size, &err) == CN_ERR_FORMAT);
        free(image);
        cn_kv_state_free(&copy);
        cn_kv_state_free(&fresh);
    }
    cn_kv_state_free(&st);
    free(want);
    free(got);
    cn_model_close(m);
    return cn_test_finish("test_kv_state");
}
