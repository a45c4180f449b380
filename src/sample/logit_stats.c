#include "sample/logit_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sampler.h"

double cn_logsumexp(const float *x, int64_t n) {
    double m = x[0];
    for (int64_t v = 1; v < n; v++)
        if (x[v] > m) m = x[v];
    double z = 0.0;
    for (int64_t v = 0; v < n; v++) z += exp((double)x[v] - m);
    return m + log(z);
}

void cn_log_softmax(const float *x, int64_t n, double *out) {
    const double lse = cn_logsumexp(x, n);
    for (int64_t v = 0; v < n; v++) out[v] = (double)x[v] - lse;
}

double cn_kl_divergence(const float *ref, const float *test, int64_t n) {
    const double lp0 = cn_logsumexp(ref, n), lq0 = cn_logsumexp(test, n);
    double kl = 0.0;
    for (int64_t v = 0; v < n; v++) {
        const double lp = (double)ref[v] - lp0, lq = (double)test[v] - lq0;
        kl += exp(lp) * (lp - lq);
    }
    return kl;
}

double cn_nll(const float *x, int64_t n, int32_t target) { return cn_logsumexp(x, n) - (double)x[target]; }

cn_status cn_logit_stats_add(cn_logit_stats *s, const float *ref, const float *test, int64_t V, int32_t target,
                             cn_error *err) {
    if (V < 1 || target >= V)
        return cn_fail(err, CN_ERR_ARG, "logit stats: target %d outside the vocabulary of %lld", target, (long long)V);
    if (s->n == s->cap) {
        const int64_t cap = s->cap ? s->cap * 2 : 1024;
        double *grown = realloc(s->kl, (size_t)cap * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "logit stats: out of memory for %lld positions", (long long)cap);
        s->kl = grown;
        s->cap = cap;
    }
    s->kl[s->n++] = cn_kl_divergence(ref, test, V);
    s->top1_agree += cn_argmax(ref, V) == cn_argmax(test, V);
    if (target >= 0) {
        s->ref_nll_sum += cn_nll(ref, V, target);
        s->test_nll_sum += cn_nll(test, V, target);
        s->predicted++;
    }
    return CN_OK;
}

static int compare_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between the order statistics around rank q*(n-1) of sorted[n]. */
static double quantile(const double *sorted, int64_t n, double q) {
    const double rank = q * (double)(n - 1);
    const int64_t lo = (int64_t)floor(rank), hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (rank - (double)lo) * (sorted[hi] - sorted[lo]);
}

cn_status cn_logit_stats_summary(const cn_logit_stats *s, cn_logit_summary *out, cn_error *err) {
    memset(out, 0, sizeof *out);
    out->positions = s->n;
    out->predicted = s->predicted;
    out->kl_mean = out->kl_median = out->kl_p99 = out->kl_max = out->top1_agreement = NAN;
    out->ref_nll = out->test_nll = out->ref_ppl = out->test_ppl = NAN;
    if (s->n > 0) {
        double *sorted = malloc((size_t)s->n * sizeof *sorted);
        if (!sorted) return cn_fail(err, CN_ERR_NOMEM, "logit stats: out of memory sorting %lld values", (long long)s->n);
        memcpy(sorted, s->kl, (size_t)s->n * sizeof *sorted);
        qsort(sorted, (size_t)s->n, sizeof *sorted, compare_double);
        double sum = 0.0;
        for (int64_t i = 0; i < s->n; i++) sum += s->kl[i];
        out->kl_mean = sum / (double)s->n;
        out->kl_median = quantile(sorted, s->n, 0.5);
        out->kl_p99 = quantile(sorted, s->n, 0.99);
        out->kl_max = sorted[s->n - 1];
        out->top1_agreement = (double)s->top1_agree / (double)s->n;
        free(sorted);
    }
    if (s->predicted > 0) {
        out->ref_nll = s->ref_nll_sum / (double)s->predicted;
        out->test_nll = s->test_nll_sum / (double)s->predicted;
        out->ref_ppl = exp(out->ref_nll);
        out->test_ppl = exp(out->test_nll);
    }
    return CN_OK;
}

void cn_logit_stats_free(cn_logit_stats *s) {
    free(s->kl);
    memset(s, 0, sizeof *s);
}
