/* libFuzzer target for config.json parsing: any text either yields a configuration that
 * passes validation or an error. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format/model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    cn_model_config cfg;
    cn_error err = {0};
    if (cn_model_config_from_json(text, "fuzz", &cfg, &err) == CN_OK && cn_model_config_validate(&cfg, &err) != CN_OK)
        abort(); /* a parsed config must always be a valid one */
    free(text);
    return 0;
}
