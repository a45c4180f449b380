/* V4-Flash's true attention and expert widths (hidden 4096, 64 heads of 512, ...), rebuilt
 * from a seed and compared with transformers' reference logits. Slow: about 1 GB of weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "harness.h"
#include "oracle_check.h"
#include "seeded_checkpoint.h"

static const char *dir = "tests/fixtures/flash_width";

int main(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/seed.json", dir);
    char *text = cn_test_read_file(path, NULL);
    cJSON *seed_json = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *seed = seed_json ? cJSON_GetObjectItemCaseSensitive(seed_json, "seed") : NULL;
    CHECKF(cJSON_IsNumber(seed), "%s missing or without a numeric \"seed\"", path);
    if (cJSON_IsNumber(seed)) {
        cn_checkpoint ckpt;
        cn_model *model = NULL;
        cn_error err = {0};
        if (cn_seeded_checkpoint_build(dir, (uint64_t)seed->valuedouble, &ckpt, &err) ||
            cn_model_from_checkpoint(&ckpt, 2, &model, &err))
            CHECKF(0, "%s", err.msg);
        else
            cn_check_against_oracle(model, dir);
        cn_model_close(model);
    }
    cJSON_Delete(seed_json);
    return cn_test_finish("test_oracle_flash_width");
}
