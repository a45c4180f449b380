/* The harness's fixture-model opener, apart from harness.c so that the core-only build
 * (CLAWNET_CORE_ONLY: no model code) links the rest of the harness. */
#include "harness_model.h"

#include <stdio.h>

#include "harness.h"

cn_model *cn_test_open_model(const char *dir, int n_threads) {
    cn_error err = {0};
    cn_model *m = NULL;
    if (cn_model_open(dir, n_threads, &m, &err)) {
        CHECKF(0, "%s: %s", dir, err.msg);
        return NULL;
    }
    return m;
}

cn_model *cn_test_open_fixture(const char *dir, int n_threads, int32_t *ids, int64_t max_ids, int64_t *n_ids) {
    *n_ids = 0;
    cn_model *m = cn_test_open_model(dir, n_threads);
    if (!m) return NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/prompt.txt", dir);
    *n_ids = cn_test_read_ids(path, ids, max_ids);
    return m;
}
