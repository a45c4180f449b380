/* JSON Schema subset validator for tool arguments (tool_schema.h). */
#include "agent/tool_schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH 64 /* nesting of schemas and values ($ref cycles end here) */

typedef struct {
    const cJSON *root;
    char *msg;
    size_t size;
} ctx;

static bool type_matches(const char *type, const cJSON *v) {
    if (!strcmp(type, "string")) return cJSON_IsString(v);
    if (!strcmp(type, "boolean")) return cJSON_IsBool(v);
    if (!strcmp(type, "number")) return cJSON_IsNumber(v);
    if (!strcmp(type, "integer")) return cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble == floor(v->valuedouble);
    if (!strcmp(type, "object")) return cJSON_IsObject(v);
    if (!strcmp(type, "array")) return cJSON_IsArray(v);
    if (!strcmp(type, "null")) return cJSON_IsNull(v);
    return true; /* a type name this subset does not know constrains nothing */
}

static const cJSON *item(const cJSON *schema, const char *key) { return cJSON_GetObjectItemCaseSensitive(schema, key); }

static bool fail(ctx *c, const char *path, const char *fmt, const char *detail) {
    char what[256];
    snprintf(what, sizeof what, fmt, detail ? detail : "");
    if (path[0]) snprintf(c->msg, c->size, "argument \"%s\" %s", path, what);
    else snprintf(c->msg, c->size, "arguments %s", what);
    return false;
}

/* path + ".key" or "[i]" (truncated quietly: only for messages). */
static void child_path(char *out, size_t size, const char *path, const char *key, int index) {
    if (key) snprintf(out, size, "%s%s%s", path, path[0] ? "." : "", key);
    else snprintf(out, size, "%s[%d]", path, index);
}

static const cJSON *resolve_ref(ctx *c, const char *ref) {
    if (!strcmp(ref, "#")) return c->root;
    const char *name = NULL;
    const cJSON *defs = NULL;
    if (!strncmp(ref, "#/$defs/", 8)) name = ref + 8, defs = item(c->root, "$defs");
    else if (!strncmp(ref, "#/definitions/", 14)) name = ref + 14, defs = item(c->root, "definitions");
    return name && !strchr(name, '/') ? item(defs, name) : NULL;
}

static const cJSON *array_or_null(const cJSON *k) { return cJSON_IsArray(k) ? k : NULL; }

static size_t code_points(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static bool check(ctx *c, const cJSON *schema, const cJSON *v, const char *path, int depth);

static bool check_number(ctx *c, const cJSON *s, const cJSON *v, const char *path) {
    const cJSON *k;
    double x = v->valuedouble;
    char bound[64];
    if (cJSON_IsNumber(k = item(s, "minimum")) && x < k->valuedouble)
        return snprintf(bound, sizeof bound, ">= %g", k->valuedouble), fail(c, path, "must be %s", bound);
    if (cJSON_IsNumber(k = item(s, "maximum")) && x > k->valuedouble)
        return snprintf(bound, sizeof bound, "<= %g", k->valuedouble), fail(c, path, "must be %s", bound);
    if (cJSON_IsNumber(k = item(s, "exclusiveMinimum")) && x <= k->valuedouble)
        return snprintf(bound, sizeof bound, "> %g", k->valuedouble), fail(c, path, "must be %s", bound);
    if (cJSON_IsNumber(k = item(s, "exclusiveMaximum")) && x >= k->valuedouble)
        return snprintf(bound, sizeof bound, "< %g", k->valuedouble), fail(c, path, "must be %s", bound);
    if (cJSON_IsNumber(k = item(s, "multipleOf")) && k->valuedouble > 0) {
        double q = x / k->valuedouble;
        if (fabs(q - nearbyint(q)) > 1e-9 * fmax(1.0, fabs(q)))
            return snprintf(bound, sizeof bound, "%g", k->valuedouble), fail(c, path, "must be a multiple of %s", bound);
    }
    return true;
}

static bool check_object(ctx *c, const cJSON *s, const cJSON *v, const char *path, int depth) {
    const cJSON *props = item(s, "properties"), *additional = item(s, "additionalProperties"), *k;
    char sub[256];
    cJSON_ArrayForEach(k, item(s, "required")) {
        if (cJSON_IsString(k) && !cJSON_GetObjectItemCaseSensitive(v, k->valuestring)) {
            child_path(sub, sizeof sub, path, k->valuestring, 0);
            snprintf(c->msg, c->size, "missing required argument \"%s\"", sub);
            return false;
        }
    }
    int n = cJSON_GetArraySize(v);
    if (cJSON_IsNumber(k = item(s, "minProperties")) && n < k->valuedouble) return fail(c, path, "has too few members", NULL);
    if (cJSON_IsNumber(k = item(s, "maxProperties")) && n > k->valuedouble) return fail(c, path, "has too many members", NULL);
    const cJSON *a;
    cJSON_ArrayForEach(a, v) {
        const cJSON *p = cJSON_IsObject(props) ? cJSON_GetObjectItemCaseSensitive(props, a->string) : NULL;
        child_path(sub, sizeof sub, path, a->string, 0);
        if (p) {
            if (!check(c, p, a, sub, depth + 1)) return false;
        } else if (cJSON_IsFalse(additional)) {
            snprintf(c->msg, c->size, "unknown argument \"%s\"", sub);
            return false;
        } else if (cJSON_IsObject(additional) && !check(c, additional, a, sub, depth + 1)) {
            return false;
        }
    }
    return true;
}

static bool check_array(ctx *c, const cJSON *s, const cJSON *v, const char *path, int depth) {
    const cJSON *k, *items = item(s, "items"), *prefix = item(s, "prefixItems");
    int n = cJSON_GetArraySize(v), n_prefix = cJSON_IsArray(prefix) ? cJSON_GetArraySize(prefix) : 0;
    char sub[256];
    if (cJSON_IsNumber(k = item(s, "minItems")) && n < k->valuedouble) return fail(c, path, "has too few items", NULL);
    if (cJSON_IsNumber(k = item(s, "maxItems")) && n > k->valuedouble) return fail(c, path, "has too many items", NULL);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        child_path(sub, sizeof sub, path, NULL, i);
        const cJSON *es = i < n_prefix ? cJSON_GetArrayItem(prefix, i) : (cJSON_IsArray(items) ? NULL : items);
        if (es && !check(c, es, e, sub, depth + 1)) return false;
        i++;
    }
    if (cJSON_IsTrue(item(s, "uniqueItems"))) {
        for (const cJSON *x = v->child; x; x = x->next)
            for (const cJSON *y = x->next; y; y = y->next)
                if (cJSON_Compare(x, y, true)) return fail(c, path, "must not repeat items", NULL);
    }
    return true;
}

static bool check(ctx *c, const cJSON *s, const cJSON *v, const char *path, int depth) {
    if (depth > MAX_DEPTH) return fail(c, path, "nests deeper than the schema check follows (%s levels)", "64");
    if (cJSON_IsFalse(s)) return fail(c, path, "is not allowed", NULL);
    if (!cJSON_IsObject(s)) return true;
    const cJSON *k;
    if (cJSON_IsString(k = item(s, "$ref"))) {
        const cJSON *target = resolve_ref(c, k->valuestring);
        if (target && !check(c, target, v, path, depth + 1)) return false;
    }
    if ((k = item(s, "type"))) {
        bool ok = !cJSON_IsString(k) && !cJSON_IsArray(k);
        if (cJSON_IsString(k)) ok = type_matches(k->valuestring, v);
        const cJSON *t;
        cJSON_ArrayForEach(t, array_or_null(k)) ok = ok || (cJSON_IsString(t) && type_matches(t->valuestring, v));
        if (!ok) {
            char names[160] = "";
            if (cJSON_IsString(k)) snprintf(names, sizeof names, "%s", k->valuestring);
            cJSON_ArrayForEach(t, array_or_null(k)) if (cJSON_IsString(t)) {
                size_t at = strlen(names);
                snprintf(names + at, sizeof names - at, "%s%s", at ? " or " : "", t->valuestring);
            }
            return fail(c, path, "must be of type %s", names);
        }
    }
    if (cJSON_IsArray(k = item(s, "enum"))) {
        bool found = false;
        const cJSON *e;
        cJSON_ArrayForEach(e, k) found = found || cJSON_Compare(e, v, true);
        if (!found) {
            char *options = cJSON_PrintUnformatted(k);
            fail(c, path, "must be one of %s", options ? options : "the enum");
            cJSON_free(options);
            return false;
        }
    }
    if ((k = item(s, "const")) && !cJSON_Compare(k, v, true)) return fail(c, path, "must equal the schema's const", NULL);
    if (cJSON_IsNumber(v) && !check_number(c, s, v, path)) return false;
    if (cJSON_IsString(v)) {
        size_t n = code_points(v->valuestring);
        if (cJSON_IsNumber(k = item(s, "minLength")) && (double)n < k->valuedouble) return fail(c, path, "is too short", NULL);
        if (cJSON_IsNumber(k = item(s, "maxLength")) && (double)n > k->valuedouble) return fail(c, path, "is too long", NULL);
    }
    if (cJSON_IsObject(v) && !check_object(c, s, v, path, depth)) return false;
    if (cJSON_IsArray(v) && !check_array(c, s, v, path, depth)) return false;
    const cJSON *sub;
    cJSON_ArrayForEach(sub, array_or_null(item(s, "allOf"))) {
        if (!check(c, sub, v, path, depth + 1)) return false;
    }
    if (cJSON_IsArray(k = item(s, "anyOf")) || cJSON_IsArray(k = item(s, "oneOf"))) {
        bool one = !strcmp(k->string, "oneOf");
        int matches = 0;
        char first_msg[300] = "";
        cJSON_ArrayForEach(sub, k) {
            if (check(c, sub, v, path, depth + 1)) matches++;
            else if (!first_msg[0]) snprintf(first_msg, sizeof first_msg, "%s", c->msg);
        }
        if (!matches || (one && matches > 1)) {
            if (!matches) snprintf(c->msg, c->size, "%s (and no other alternative of %s matches)", first_msg, k->string);
            else fail(c, path, "matches more than one alternative of oneOf", NULL);
            return false;
        }
        c->msg[0] = 0;
    }
    if ((k = item(s, "not")) && cJSON_IsObject(k)) {
        if (check(c, k, v, path, depth + 1)) return fail(c, path, "matches a schema it must not (\"not\")", NULL);
        c->msg[0] = 0;
    }
    return true;
}

bool cn_tool_schema_validate(const cJSON *schema, const cJSON *args, char *msg, size_t msg_size) {
    if (!cJSON_IsObject(args)) {
        snprintf(msg, msg_size, "arguments must be a JSON object");
        return false;
    }
    ctx c = {.root = schema, .msg = msg, .size = msg_size};
    msg[0] = 0;
    return check(&c, schema, args, "", 0);
}
