/* Turning logits into the next token: greedy, or temperature with top-k and top-p,
 * reproducible from a seed. */
#ifndef CN_SAMPLE_SAMPLER_H
#define CN_SAMPLE_SAMPLER_H

#include <stdint.h>

#include "base/error.h"

typedef struct {
    float temperature; /* <= 0: greedy (argmax, lowest id on ties) */
    int64_t top_k;     /* <= 0: no limit */
    float top_p;       /* >= 1: no limit */
    uint64_t seed;
} cn_sampler_params;

typedef struct {
    cn_sampler_params params;
    uint64_t rng_state;
    /* scratch for sorting candidates */
    int32_t *ids;
    float *probs;
    int64_t capacity;
} cn_sampler;

cn_status cn_sampler_init(cn_sampler *s, const cn_sampler_params *params, cn_error *err);
void cn_sampler_free(cn_sampler *s);
int32_t cn_sampler_next(cn_sampler *s, const float *logits, int64_t vocab);

int32_t cn_argmax(const float *v, int64_t n);

#endif
