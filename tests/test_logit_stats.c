/* src/sample/logit_stats.c against values worked out independently: closed forms by hand, and
 * constants computed with numpy in float64 from the same f32 inputs (the expression is given
 * next to each), plus the summary's order statistics against numpy's median / percentile. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "sample/logit_stats.h"

static int close_to(double got, double want, double tol) { return fabs(got - want) <= tol * (1.0 + fabs(want)); }

#define CHECK_CLOSE(got, want, tol) CHECKF(close_to((got), (want), (tol)), "%s = %.17g, expected %.17g", #got, (double)(got), (double)(want))

/* numpy: a, b as float32; ls(x) = x - max - log(sum(exp(x - max))) in float64. */
static const float A[5] = {1.5f, -2.0f, 0.25f, 3.0f, 0.0f};
static const float B[5] = {1.0f, -1.0f, 0.5f, 2.75f, 0.125f};
static const double LS_A[5] = {-1.7953399534322458, -5.295339953432245, -3.045339953432246, -0.2953399534322458,
                               -3.295339953432246};
static const double KL_AB = 0.020772057307562118; /* (exp(ls(a)) * (ls(a) - ls(b))).sum() */
static const double KL_BA = 0.024654439476404614; /* (exp(ls(b)) * (ls(b) - ls(a))).sum() */
static const double NLL_A2 = 3.045339953432246, NLL_B2 = 2.568548759986836; /* -ls(a)[2], -ls(b)[2] */

int main(void) {
    cn_error err = {0};
    double ls[5];

    /* log-softmax and log-sum-exp */
    cn_log_softmax(A, 5, ls);
    for (int v = 0; v < 5; v++) CHECK_CLOSE(ls[v], LS_A[v], 1e-14);
    CHECK_CLOSE(cn_logsumexp(A, 5), 3.295339953432246, 1e-14);
    /* shift invariance and stability: logits around 1e3 would overflow a naive exp */
    float big[5];
    for (int v = 0; v < 5; v++) big[v] = A[v] + 1000.0f;
    cn_log_softmax(big, 5, ls);
    for (int v = 0; v < 5; v++) CHECK_CLOSE(ls[v], LS_A[v], 1e-12);
    CHECK(isfinite(cn_logsumexp(big, 5)));
    /* uniform: log(1/n) everywhere */
    const float zeros[4] = {0};
    cn_log_softmax(zeros, 4, ls);
    for (int v = 0; v < 4; v++) CHECK_CLOSE(ls[v], -log(4.0), 1e-15);

    /* KL divergence */
    CHECK_CLOSE(cn_kl_divergence(A, B, 5), KL_AB, 1e-13);
    CHECK_CLOSE(cn_kl_divergence(B, A, 5), KL_BA, 1e-13);
    CHECK(cn_kl_divergence(A, A, 5) == 0.0);
    CHECK_CLOSE(cn_kl_divergence(A, big, 5), 0.0, 1e-12); /* same distribution, shifted logits */
    /* p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 log 2 + 1/2 log(2/3) = 1/2 log(4/3) */
    const float half[2] = {0.0f, 0.0f}, quarter[2] = {0.0f, (float)log(3.0)};
    CHECK_CLOSE(cn_kl_divergence(half, quarter, 2), 0.5 * log(4.0 / 3.0), 1e-7); /* log 3 rounded to f32 */
    /* one-hot-ish rows swapped: log p - log q is +3 at 0, -3 at 1, 0 elsewhere */
    const float D[5] = {3, 0, 0, 0, 0}, E[5] = {0, 3, 0, 0, 0};
    const double kl_de = 3.0 * (exp(3.0) - 1.0) / (exp(3.0) + 4.0);
    CHECK_CLOSE(cn_kl_divergence(D, E, 5), kl_de, 1e-14);

    /* NLL */
    CHECK_CLOSE(cn_nll(A, 5, 2), NLL_A2, 1e-14);
    CHECK_CLOSE(cn_nll(B, 5, 2), NLL_B2, 1e-14);
    CHECK_CLOSE(cn_nll(zeros, 4, 3), log(4.0), 1e-15);

    /* the accumulator: KL values {KL_AB, KL_BA, 0, kl_de}; argmax agrees on the first three
     * (3 and 3; 3 and 3; 3 and 3) and not on D/E (0 and 1) */
    cn_logit_stats s = {0};
    cn_logit_summary sum;
    CHECK(cn_logit_stats_summary(&s, &sum, &err) == CN_OK);
    CHECK(sum.positions == 0 && isnan(sum.kl_mean) && isnan(sum.ref_ppl));
    CHECK(cn_logit_stats_add(&s, A, B, 5, 2, &err) == CN_OK);
    CHECK(cn_logit_stats_add(&s, B, A, 5, -1, &err) == CN_OK);
    CHECK(cn_logit_stats_add(&s, A, A, 5, 0, &err) == CN_OK);
    CHECK(cn_logit_stats_add(&s, D, E, 5, 1, &err) == CN_OK);
    CHECK(cn_logit_stats_add(&s, D, E, 5, 5, &err) == CN_ERR_ARG); /* target outside V */
    CHECK(cn_logit_stats_summary(&s, &sum, &err) == CN_OK);
    CHECK(sum.positions == 4 && sum.predicted == 3);
    CHECK_CLOSE(sum.kl_mean, (KL_AB + KL_BA + 0.0 + kl_de) / 4.0, 1e-13);
    /* sorted: 0, KL_AB, KL_BA, kl_de; median = mean of the middle two; p99 at rank 2.97 */
    CHECK_CLOSE(sum.kl_median, (KL_AB + KL_BA) / 2.0, 1e-13);
    CHECK_CLOSE(sum.kl_p99, KL_BA + 0.97 * (kl_de - KL_BA), 1e-13);
    CHECK_CLOSE(sum.kl_max, kl_de, 1e-14);
    CHECK_CLOSE(sum.top1_agreement, 0.75, 0);
    /* targets: A->2, A->0, D->1 under ref; B->2, A->0, E->1 under test */
    const double ref_nll = (NLL_A2 + -LS_A[0] + (log(exp(3.0) + 4.0) - 0.0)) / 3.0;
    const double test_nll = (NLL_B2 + -LS_A[0] + (log(exp(3.0) + 4.0) - 3.0)) / 3.0;
    CHECK_CLOSE(sum.ref_nll, ref_nll, 1e-13);
    CHECK_CLOSE(sum.test_nll, test_nll, 1e-13);
    CHECK_CLOSE(sum.ref_ppl, exp(ref_nll), 1e-13);
    CHECK_CLOSE(sum.test_ppl, exp(test_nll), 1e-13);
    cn_logit_stats_free(&s);

    /* order statistics against numpy: k = [0.3, 0.1, 0.7, 0.2, 0.5, 0.9, 0.05] as KL values of
     * two-way rows; np.median(k) = 0.3, np.percentile(k, 99) = 0.888, mean 0.39285714285714285.
     * KL((1/2,1/2) || softmax(0, t)) grows with t > 0, so each row is found by bisection on t. */
    const double k[7] = {0.3, 0.1, 0.7, 0.2, 0.5, 0.9, 0.05};
    double got_k[7];
    for (int i = 0; i < 7; i++) {
        double lo = 0.0, hi = 40.0;
        float row[2] = {0.0f, 0.0f};
        for (int it = 0; it < 200; it++) {
            row[1] = (float)(0.5 * (lo + hi));
            if (cn_kl_divergence(half, row, 2) < k[i]) lo = row[1];
            else hi = row[1];
        }
        row[1] = (float)lo;
        got_k[i] = cn_kl_divergence(half, row, 2);
        CHECK(cn_logit_stats_add(&s, half, row, 2, -1, &err) == CN_OK);
        CHECK_CLOSE(got_k[i], k[i], 1e-5);
    }
    CHECK(cn_logit_stats_summary(&s, &sum, &err) == CN_OK);
    CHECK(sum.positions == 7 && sum.predicted == 0 && isnan(sum.ref_nll));
    CHECK_CLOSE(sum.kl_median, got_k[0], 1e-15);
    CHECK_CLOSE(sum.kl_p99, got_k[2] + 0.94 * (got_k[5] - got_k[2]), 1e-13);
    CHECK_CLOSE(sum.kl_p99, 0.888, 1e-5);
    CHECK_CLOSE(sum.kl_mean, 0.39285714285714285, 1e-5);
    CHECK_CLOSE(sum.kl_max, got_k[5], 1e-15);
    cn_logit_stats_free(&s);
    return cn_test_finish("test_logit_stats");
}
