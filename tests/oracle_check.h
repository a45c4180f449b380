/* Comparing a model against reference outputs recorded by scripts/make_oracle_fixtures.py
 * (transformers' DeepseekV4ForCausalLM): logits for full prefill, token-by-token decode and
 * chunked prefill, the routed experts and the indexer's selections of the prefill, and the
 * MTP block's logits where recorded. File formats: docs/fixtures.md. */
#ifndef CN_TEST_ORACLE_CHECK_H
#define CN_TEST_ORACLE_CHECK_H

#include "model/model.h"

/* Runs every check for the fixture in `dir` against `model`; failures are CHECKs. */
void cn_check_against_oracle(cn_model *model, const char *dir);

#endif
