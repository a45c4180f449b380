#include "serve/request_fields.h"

#include <math.h>

const cJSON *serve_json_field(const cJSON *object, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsNull(v) ? NULL : v; /* null means "not given" throughout the APIs */
}

bool serve_json_is_integer(const cJSON *v) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
}
