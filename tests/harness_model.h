/* The harness's fixture-model opener (harness_model.c; full build only, the core-only build has
 * no model code). */
#ifndef CN_TEST_HARNESS_MODEL_H
#define CN_TEST_HARNESS_MODEL_H

#include <stdint.h>

#include "model/model.h"

/* Opens the model in dir (cn_model_open with n_threads); one that does not open is a failed
 * check and NULL. */
cn_model *cn_test_open_model(const char *dir, int n_threads);

/* cn_test_open_model, then reads up to max_ids token ids of dir/prompt.txt into ids (*n_ids, 0
 * if the file is missing). */
cn_model *cn_test_open_fixture(const char *dir, int n_threads, int32_t *ids, int64_t max_ids, int64_t *n_ids);

#endif
