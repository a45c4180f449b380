#include "sample/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cn_status cn_sampler_init(cn_sampler *s, const cn_sampler_params *params, cn_error *err) {
    memset(s, 0, sizeof *s);
    if (params->temperature < 0.0f || isnan(params->temperature))
        return cn_fail(err, CN_ERR_ARG, "temperature must be >= 0");
    if (!(params->top_p > 0.0f))
        return cn_fail(err, CN_ERR_ARG, "top-p must be in (0, 1]");
    s->params = *params;
    s->rng_state = params->seed;
    return CN_OK;
}

void cn_sampler_free(cn_sampler *s) {
    free(s->ids);
    free(s->probs);
    memset(s, 0, sizeof *s);
}

int32_t cn_argmax(const float *v, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return (int32_t)best;
}

/* splitmix64: small, well distributed, and identical on every platform. */
static uint64_t next_u64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int by_logit_desc(const void *a, const void *b, void *ctx) {
    const float *logits = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float lx = logits[x], ly = logits[y];
    if (lx != ly) return lx < ly ? 1 : -1;
    return (x > y) - (x < y);
}

int32_t cn_sampler_next(cn_sampler *s, const float *logits, int64_t vocab) {
    const cn_sampler_params *p = &s->params;
    if (p->temperature <= 0.0f) return cn_argmax(logits, vocab);
    if (s->capacity < vocab) {
        free(s->ids);
        free(s->probs);
        s->ids = malloc((size_t)vocab * sizeof *s->ids);
        s->probs = malloc((size_t)vocab * sizeof *s->probs);
        if (!s->ids || !s->probs) return cn_argmax(logits, vocab);
        s->capacity = vocab;
    }
    for (int64_t i = 0; i < vocab; i++) s->ids[i] = (int32_t)i;
    /* Candidates in descending logit order (ties by id), so truncation is deterministic. */
    qsort_r(s->ids, (size_t)vocab, sizeof *s->ids, by_logit_desc, (void *)logits);
    int64_t n = p->top_k > 0 && p->top_k < vocab ? p->top_k : vocab;
    const float mx = logits[s->ids[0]];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (s->probs[i] = expf((logits[s->ids[i]] - mx) / p->temperature));
    if (p->top_p < 1.0f) {
        double kept = 0.0;
        int64_t i = 0;
        while (i < n && kept < p->top_p * sum) kept += s->probs[i++];
        n = i > 0 ? i : 1;
        sum = kept > 0 ? kept : s->probs[0];
    }
    double u = (double)(next_u64(&s->rng_state) >> 11) * 0x1.0p-53 * sum, acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        acc += s->probs[i];
        if (u < acc) return s->ids[i];
    }
    return s->ids[n - 1];
}
