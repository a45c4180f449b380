#include "serve/sse_event.h"

#include <stdlib.h>
#include <string.h>

char *serve_sse_event(const char *name, const cJSON *data, size_t *len) {
    char *json = cJSON_PrintUnformatted(data);
    if (!json) return NULL;
    size_t n_name = strlen(name), n_json = strlen(json);
    size_t total = 7 + n_name + 7 + n_json + 2;
    char *out = malloc(total + 1);
    if (out) {
        char *p = out;
        memcpy(p, "event: ", 7), p += 7;
        memcpy(p, name, n_name), p += n_name;
        memcpy(p, "\ndata: ", 7), p += 7;
        memcpy(p, json, n_json), p += n_json;
        memcpy(p, "\n\n", 3);
        *len = total;
    }
    free(json);
    return out;
}
