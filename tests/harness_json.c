/* The harness's JSON fixture reader, apart from harness.c so that the core-only build
 * (CLAWNET_CORE_ONLY, no cJSON) links the rest of the harness. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "harness.h"

cJSON *cn_test_read_json(const char *path) {
    size_t size;
    char *text = cn_test_read_file(path, &size);
    CHECKF(text != NULL, "missing fixture %s", path);
    if (!text) return NULL;
    cJSON *json = cJSON_ParseWithLength(text, size);
    free(text);
    CHECKF(json != NULL, "fixture %s is not JSON", path);
    return json;
}
