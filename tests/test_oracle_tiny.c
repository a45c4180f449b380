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
    const char *fixtures[] = {"tests/fixtures/tiny", "tests/fixtures/tiny_official", "tests/fixtures/tiny_clamp"};
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
        char manifest[512];
        snprintf(manifest, sizeof manifest, "%s/manifest.json", fixtures[i]);
        FILE *f = fopen(manifest, "r");
        if (!f) {
            if (i < 2) CHECKF(0, "fixture %s is missing", fixtures[i]);
            continue;
        }
        fclose(f);
        check_fixture(fixtures[i], 2);
    }
    return cn_test_finish("test_oracle_tiny");
}
