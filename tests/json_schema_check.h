/* An independent check of the JSON Schema subset the constraints enforce (written for the tests,
 * separately from src/sample/json_schema.c): type, enum, const, properties, required,
 * additionalProperties, items, minItems, maxItems, over values parsed by cJSON. */
#ifndef CN_TEST_JSON_SCHEMA_CHECK_H
#define CN_TEST_JSON_SCHEMA_CHECK_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>


static int type_matches(const cJSON *v, const char *type) {
    if (!strcmp(type, "null")) return cJSON_IsNull(v);
    if (!strcmp(type, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(type, "string")) return cJSON_IsString(v);
    if (!strcmp(type, "array")) return cJSON_IsArray(v);
    if (!strcmp(type, "object")) return cJSON_IsObject(v);
    if (!strcmp(type, "number")) return cJSON_IsNumber(v);
    if (!strcmp(type, "integer")) return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble);
    return 0;
}

static int satisfies(const cJSON *v, const cJSON *schema, char *why, size_t why_size) {
    if (!schema || cJSON_IsTrue(schema)) return 1;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    if (type) {
        int ok = 0;
        if (cJSON_IsString(type)) ok = type_matches(v, type->valuestring);
        for (const cJSON *t = cJSON_IsArray(type) ? type->child : NULL; t; t = t->next) ok |= type_matches(v, t->valuestring);
        if (!ok) return snprintf(why, why_size, "wrong type"), 0;
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    if (en) {
        int ok = 0;
        for (const cJSON *e = en->child; e; e = e->next) ok |= cJSON_Compare(v, e, 1);
        if (!ok) return snprintf(why, why_size, "not an enum member"), 0;
    }
    const cJSON *cn = cJSON_GetObjectItemCaseSensitive(schema, "const");
    if (cn && !cJSON_Compare(v, cn, 1)) return snprintf(why, why_size, "not the const"), 0;
    if (cJSON_IsObject(v)) {
        const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
        const cJSON *add = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
        for (const cJSON *m = v->child; m; m = m->next) {
            for (const cJSON *n = m->next; n; n = n->next)
                if (!strcmp(m->string, n->string)) return snprintf(why, why_size, "duplicate key %s", m->string), 0;
            const cJSON *ps = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
            if (ps) {
                if (!satisfies(m, ps, why, why_size)) return 0;
            } else if (cJSON_IsFalse(add)) {
                return snprintf(why, why_size, "undeclared key %s", m->string), 0;
            } else if (add && !satisfies(m, add, why, why_size)) {
                return 0;
            }
        }
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
        for (const cJSON *r = req ? req->child : NULL; r; r = r->next)
            if (!cJSON_GetObjectItemCaseSensitive(v, r->valuestring)) return snprintf(why, why_size, "missing %s", r->valuestring), 0;
    }
    if (cJSON_IsArray(v)) {
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maxItems");
        int n = cJSON_GetArraySize(v);
        if (min && n < min->valueint) return snprintf(why, why_size, "too few items"), 0;
        if (max && n > max->valueint) return snprintf(why, why_size, "too many items"), 0;
        for (const cJSON *it = v->child; it && items; it = it->next)
            if (!satisfies(it, items, why, why_size)) return 0;
    }
    return 1;
}

#endif
