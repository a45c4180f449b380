/* Comparing two models' logits over the same tokens (quantised against reference): log-softmax,
 * KL divergence, top-1 agreement and next-token negative log-likelihood, all computed in double
 * from the f32 logits, and an accumulator that summarises many positions (mean, median, 99th
 * percentile and max KL; agreement; each model's perplexity). */
#ifndef CN_SAMPLE_LOGIT_STATS_H
#define CN_SAMPLE_LOGIT_STATS_H

#include <stdint.h>

#include "base/error.h"

/* log(sum_v exp(x[v])), stable for any magnitude (max subtracted first). n >= 1. */
double cn_logsumexp(const float *x, int64_t n);

/* out[v] = x[v] - logsumexp(x): the log-probabilities of softmax(x). n >= 1. */
void cn_log_softmax(const float *x, int64_t n, double *out);

/* KL(softmax(ref) || softmax(test)) = sum_v p(v) (log p(v) - log q(v)), in nats. Exactly 0 when
 * the two rows are equal; may be a rounding error below 0 when they are nearly so. */
double cn_kl_divergence(const float *ref, const float *test, int64_t n);

/* -log softmax(x)[target]: the negative log-likelihood of target, in nats. */
double cn_nll(const float *x, int64_t n, int32_t target);

/* Summary of a comparison (see cn_logit_stats_summary). */
typedef struct {
    int64_t positions;            /* positions compared (KL, top-1) */
    double kl_mean, kl_median, kl_p99, kl_max;
    double top1_agreement;        /* fraction of positions whose argmaxes are equal */
    int64_t predicted;            /* positions with a next token (NLL, perplexity) */
    double ref_nll, test_nll;     /* mean NLL of the next token, nats */
    double ref_ppl, test_ppl;     /* exp(mean NLL) */
} cn_logit_summary;

/* Accumulates per-position statistics; zero-initialise, add rows, summarise, free. */
typedef struct {
    double *kl; /* per-position KL, for the median and percentiles */
    int64_t n, cap;
    int64_t top1_agree;
    int64_t predicted;
    double ref_nll_sum, test_nll_sum;
} cn_logit_stats;

/* Adds one position: ref and test are the two models' logits [V] there; target is the token
 * that follows (its NLL under each model is accumulated), or -1 when there is none. */
cn_status cn_logit_stats_add(cn_logit_stats *s, const float *ref, const float *test, int64_t V, int32_t target,
                             cn_error *err);

/* Summarises what was added so far. Percentiles interpolate linearly between order statistics
 * (numpy's default: rank q*(n-1)). Fields without data (no positions, no targets) are NAN. */
cn_status cn_logit_stats_summary(const cn_logit_stats *s, cn_logit_summary *out, cn_error *err);

void cn_logit_stats_free(cn_logit_stats *s);

#endif
