/* JSON Schema subset validator for tool arguments (tool_schema.h). */
#include "agent/tool_schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool type_matches(const char *type, const cJSON *v) {
    if (!strcmp(type, "string")) return cJSON_IsString(v);
    if (!strcmp(type, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(type, "number")) return cJSON_IsNumber(v);
    if (!strcmp(type, "integer")) return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(type, "object")) return cJSON_IsObject(v);
    if (!strcmp(type, "array")) return cJSON_IsArray(v);
    if (!strcmp(type, "null")) return cJSON_IsNull(v);
    return true; /* a type this subset does not know constrains nothing */
}

bool cn_tool_schema_validate(const cJSON *schema, const cJSON *args, char *msg, size_t msg_size) {
    if (!cJSON_IsObject(args)) {
        snprintf(msg, msg_size, "arguments must be a JSON object");
        return false;
    }
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *additional = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    const cJSON *r;
    cJSON_ArrayForEach(r, required) {
        if (cJSON_IsString(r) && !cJSON_GetObjectItemCaseSensitive(args, r->valuestring)) {
            snprintf(msg, msg_size, "missing required argument \"%s\"", r->valuestring);
            return false;
        }
    }
    const cJSON *a;
    cJSON_ArrayForEach(a, args) {
        const cJSON *p = props ? cJSON_GetObjectItemCaseSensitive(props, a->string) : NULL;
        if (!p) {
            if (cJSON_IsFalse(additional)) {
                snprintf(msg, msg_size, "unknown argument \"%s\"", a->string);
                return false;
            }
            continue;
        }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
        if (cJSON_IsString(type) && !type_matches(type->valuestring, a)) {
            snprintf(msg, msg_size, "argument \"%s\" must be of type %s", a->string, type->valuestring);
            return false;
        }
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(p, "minimum");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(p, "maximum");
        if (cJSON_IsNumber(a) && ((cJSON_IsNumber(min) && a->valuedouble < min->valuedouble) ||
                                  (cJSON_IsNumber(max) && a->valuedouble > max->valuedouble))) {
            snprintf(msg, msg_size, "argument \"%s\" is out of range", a->string);
            return false;
        }
    }
    return true;
}
