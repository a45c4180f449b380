/* The small committed checkpoints against transformers' reference outputs. */
#include <stdio.h>

#include "harness.h"
#include "oracle_check.h"

static void check_fixture(const char *dir, int threads) {
    cn_error err = {0};
    cn_model *model = NULL;
    if (cn_model_open(dir, threads, &model, &err)) {
        CHECKF(0, "%s: %s", dir, err.msg);
        return;
    }
    cn_check_against_oracle(model, dir);
    cn_model_close(model);
}

int main(void) {
    /* tiny: spec 13.1 under transformers' names; tiny_official: legacy config, official names,
     * FP8 + MXFP4 weights in two shards, with an MTP block; tiny_mtp: tiny's config with an MTP
     * block, f32, transformers names + canonical mtp.0.* (the layout of scripts/train_hk_mtp.py). */
    check_fixture("tests/fixtures/tiny", 2);
    check_fixture("tests/fixtures/tiny_official", 2);
    check_fixture("tests/fixtures/tiny_mtp", 2);
    return cn_test_finish("test_oracle_tiny");
}
