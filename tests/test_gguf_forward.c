/* The GGUF path end to end: tests/fixtures/gguf/tiny-v4.gguf is the `tiny` oracle checkpoint
 * converted by the gguf package with F16, BF16 and Q8_0 tensors among its F32 ones, so its
 * logits must stay close to transformers' (KL divergence and top-1 agreement, the measure for
 * quantised weights) and prefill must equal token-by-token decode bitwise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/model.h"
#include "sample/logit_stats.h"

int main(void) {
    cn_error err = {0};
    cn_model *m = NULL;
    if (cn_model_open("tests/fixtures/gguf/tiny-v4.gguf", 2, &m, &err)) {
        CHECKF(0, "%s", err.msg);
        return cn_test_finish("test_gguf_forward");
    }
    int32_t ids[64];
    const int64_t S = cn_test_read_ids("tests/fixtures/tiny/prompt.txt", ids, 64);
    const int64_t V = m->cfg->vocab_size;
    size_t ref_size = 0;
    float *ref = cn_test_read_file("tests/fixtures/tiny/logits_prefill.f32", &ref_size);
    CHECK(S == 40 && ref && ref_size == (size_t)(S * V) * sizeof(float));
    float *prefill = malloc((size_t)(S * V) * sizeof(float)), *decode = malloc((size_t)(S * V) * sizeof(float));
    cn_kv_state st;
    CHECK(cn_model_state_init(m, &st, &err) == CN_OK);
    CHECKF(cn_model_forward(m, &st, ids, S, prefill, NULL, &err) == CN_OK, "%s", err.msg);
    cn_kv_state_reset(&st);
    for (int64_t i = 0; i < S; i++) CHECK(cn_model_forward(m, &st, ids + i, 1, decode + i * V, NULL, &err) == CN_OK);
    CHECK(memcmp(prefill, decode, (size_t)(S * V) * sizeof(float)) == 0);
    if (ref && ref_size == (size_t)(S * V) * sizeof(float)) {
        cn_logit_stats stats = {0};
        cn_logit_summary sum = {0};
        for (int64_t s = 0; s < S; s++)
            CHECK(cn_logit_stats_add(&stats, ref + s * V, prefill + s * V, V, s + 1 < S ? ids[s + 1] : -1, &err) == CN_OK);
        CHECK(cn_logit_stats_summary(&stats, &sum, &err) == CN_OK);
        cn_logit_stats_free(&stats);
        const double kl = sum.kl_mean, top1 = sum.top1_agreement;
        printf("gguf vs transformers: mean KL %.3g, top-1 agreement %.3f\n", kl, top1);
        CHECKF(kl < 5e-3, "mean KL %.3g too large for 8/16-bit weights", kl);
        CHECKF(top1 >= 0.9, "top-1 agreement %.3f below 0.9", top1);
        CHECKF(fabs(sum.test_nll - sum.ref_nll) < 1e-2, "mean NLL %.6g vs transformers' %.6g", sum.test_nll, sum.ref_nll);
    }
    free(ref);
    free(prefill);
    free(decode);
    cn_kv_state_free(&st);
    cn_model_close(m);
    return cn_test_finish("test_gguf_forward");
}
