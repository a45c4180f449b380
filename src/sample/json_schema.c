/* See json_schema.h. Children are compiled before their parent decides what is satisfiable, so
 * pruning is one bottom-up pass folded into compilation (a schema has no $ref, hence no cycles). */
#include "sample/json_schema.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCHEMA_DEPTH 64

typedef struct {
    cn_json_schema *s;
    cn_error *err;
    char path[512];
} compiler;

static cn_status grow(void **p, size_t *cap, size_t need, size_t size, cn_error *err) {
    if (need <= *cap) return CN_OK;
    size_t cap2 = *cap ? *cap * 2 : 16;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * size);
    if (!q) return cn_fail(err, CN_ERR_NOMEM, "JSON schema: out of memory");
    *p = q;
    *cap = cap2;
    return CN_OK;
}

static cn_status new_node(compiler *c, int32_t *out) {
    cn_json_schema *s = c->s;
    cn_status st = grow((void **)&s->nodes, &s->cap_nodes, s->n_nodes + 1, sizeof *s->nodes, c->err);
    if (st) return st;
    s->nodes[s->n_nodes] = (cn_json_node){.types = 0, .enum_root = -1, .additional = -1, .items = -1,
                                          .min_items = 0, .max_items = UINT32_MAX};
    *out = (int32_t)s->n_nodes++;
    return CN_OK;
}

static cn_status new_enum_node(compiler *c, uint8_t byte, int32_t *out) {
    cn_json_schema *s = c->s;
    cn_status st = grow((void **)&s->enum_nodes, &s->cap_enum, s->n_enum + 1, sizeof *s->enum_nodes, c->err);
    if (st) return st;
    s->enum_nodes[s->n_enum] = (cn_json_enum_node){.first_child = -1, .next_sibling = -1, .byte = byte};
    *out = (int32_t)s->n_enum++;
    return CN_OK;
}

static cn_status enum_insert(compiler *c, int32_t root, const char *text) {
    int32_t at = root;
    for (const uint8_t *p = (const uint8_t *)text; *p; p++) {
        int32_t child = c->s->enum_nodes[at].first_child;
        while (child >= 0 && c->s->enum_nodes[child].byte != *p) child = c->s->enum_nodes[child].next_sibling;
        if (child < 0) {
            cn_status st = new_enum_node(c, *p, &child);
            if (st) return st;
            c->s->enum_nodes[child].next_sibling = c->s->enum_nodes[at].first_child;
            c->s->enum_nodes[at].first_child = child;
        }
        at = child;
    }
    c->s->enum_nodes[at].terminal = true;
    return CN_OK;
}

static cn_status fail_at(compiler *c, cn_status code, const char *what) {
    return cn_fail(c->err, code, "JSON schema at %s: %s", c->path[0] ? c->path : "(root)", what);
}

/* Appends "/part" to the path for the duration of a child's compilation; returns the old length. */
static size_t push_path(compiler *c, const char *part) {
    size_t n = strlen(c->path);
    snprintf(c->path + n, sizeof c->path - n, "/%s", part);
    return n;
}

static uint32_t type_bit(const char *name) {
    static const struct {
        const char *name;
        uint32_t bit;
    } names[] = {{"null", CN_JSON_NULL},       {"boolean", CN_JSON_BOOLEAN}, {"integer", CN_JSON_INTEGER},
                 {"number", CN_JSON_NUMBER | CN_JSON_INTEGER}, {"string", CN_JSON_STRING},
                 {"array", CN_JSON_ARRAY},     {"object", CN_JSON_OBJECT}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i].name, name)) return names[i].bit;
    return 0;
}

/* The type bits a concrete value has. */
static uint32_t value_types(const cJSON *v) {
    if (cJSON_IsNull(v)) return CN_JSON_NULL;
    if (cJSON_IsBool(v)) return CN_JSON_BOOLEAN;
    if (cJSON_IsString(v)) return CN_JSON_STRING;
    if (cJSON_IsArray(v)) return CN_JSON_ARRAY;
    if (cJSON_IsObject(v)) return CN_JSON_OBJECT;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        return CN_JSON_NUMBER | (isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0 ? CN_JSON_INTEGER : 0);
    }
    return 0;
}

static bool is_annotation(const char *key) {
    static const char *const names[] = {"title",    "description", "default",    "examples", "$schema",
                                        "$id",      "$comment",    "deprecated", "readOnly", "writeOnly"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(names[i], key)) return true;
    return false;
}

static cn_status compile(compiler *c, const cJSON *schema, int depth, int32_t *out);

static bool node_satisfiable(const cn_json_schema *s, int32_t node) {
    if (node < 0) return false;
    const cn_json_node *n = &s->nodes[node];
    return n->enum_root >= 0 ? s->enum_nodes[n->enum_root].first_child >= 0 : n->types != 0;
}

/* A property name must be typeable: valid UTF-8 with no control character that JSON can only
 * write as \u00XX (the key matcher reads only the short escapes). */
static bool name_typeable(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 && p[i] != '\b' && p[i] != '\f' && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') return false;
    /* UTF-8 well-formedness (RFC 3629) */
    for (size_t i = 0; i < n;) {
        uint8_t b = p[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) need = 0;
        else if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if (b == 0xED) need = 2, hi = 0x9F;
        else if (b >= 0xE1 && b <= 0xEF) need = 2;
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b == 0xF4) need = 3, hi = 0x8F;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else return false;
        if (need && i + need >= n) return false;
        for (size_t k = 1; k <= need; k++) {
            if (p[i + k] < lo || p[i + k] > hi) return false;
            lo = 0x80, hi = 0xBF;
        }
        i += need + 1;
    }
    return true;
}

static cn_status add_property(compiler *c, const char *name, int32_t node, uint32_t *count) {
    cn_json_schema *s = c->s;
    size_t len = strlen(name);
    if (!name_typeable((const uint8_t *)name, len)) {
        char msg[160];
        snprintf(msg, sizeof msg, "property name '%.60s' is not valid UTF-8 or holds a control character other than \\b\\f\\n\\r\\t", name);
        return fail_at(c, CN_ERR_UNSUPPORTED, msg);
    }
    if (*count >= CN_JSON_MAX_PROPERTIES) {
        char msg[96];
        snprintf(msg, sizeof msg, "more than %d properties in one object are not supported", CN_JSON_MAX_PROPERTIES);
        return fail_at(c, CN_ERR_UNSUPPORTED, msg);
    }
    cn_status st = grow((void **)&s->props, &s->cap_props, s->n_props + 1, sizeof *s->props, c->err);
    if (!st) st = grow((void **)&s->names, &s->cap_names, s->n_names + len + 1, 1, c->err);
    if (st) return st;
    memcpy(s->names + s->n_names, name, len);
    s->props[s->n_props++] = (cn_json_property){.name = (uint32_t)s->n_names, .len = (uint32_t)len, .node = node};
    s->n_names += len;
    (*count)++;
    return CN_OK;
}

static int32_t find_property(const cn_json_schema *s, const cn_json_node *n, const char *name) {
    size_t len = strlen(name);
    for (uint32_t i = 0; i < n->n_props; i++) {
        const cn_json_property *p = &s->props[n->first_prop + i];
        if (p->len == len && !memcmp(s->names + p->name, name, len)) return (int32_t)i;
    }
    return -1;
}

static cn_status read_count(compiler *c, const cJSON *v, const char *key, uint32_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble != floor(v->valuedouble) || v->valuedouble > 1e9) {
        char msg[96];
        snprintf(msg, sizeof msg, "'%s' must be a non-negative integer", key);
        return fail_at(c, CN_ERR_ARG, msg);
    }
    *out = (uint32_t)v->valuedouble;
    return CN_OK;
}

/* Object keywords: properties (compiled in order), required, additionalProperties. The node's
 * properties must be one contiguous run, so children are compiled first and recorded after. */
static cn_status compile_object(compiler *c, const cJSON *schema, int depth, int32_t node) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
    const cJSON *required = cJSON_GetObjectItemCaseSensitive(schema, "required");
    const cJSON *additional = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
    if (props && !cJSON_IsObject(props)) return fail_at(c, CN_ERR_ARG, "'properties' must be an object");
    if (required && !cJSON_IsArray(required)) return fail_at(c, CN_ERR_ARG, "'required' must be an array of names");
    int32_t child_nodes[CN_JSON_MAX_PROPERTIES];
    const char *child_names[CN_JSON_MAX_PROPERTIES];
    uint32_t n = 0;
    cn_status st = CN_OK;
    for (const cJSON *p = props ? props->child : NULL; p; p = p->next) {
        if (n >= CN_JSON_MAX_PROPERTIES) {
            char msg[96];
            snprintf(msg, sizeof msg, "more than %d properties in one object are not supported", CN_JSON_MAX_PROPERTIES);
            return fail_at(c, CN_ERR_UNSUPPORTED, msg);
        }
        size_t old = push_path(c, "properties");
        size_t old2 = push_path(c, p->string);
        st = compile(c, p, depth + 1, &child_nodes[n]);
        c->path[old2] = 0;
        c->path[old] = 0;
        if (st) return st;
        child_names[n++] = p->string;
    }
    int32_t additional_node = c->s->any;
    if (cJSON_IsFalse(additional)) additional_node = -1;
    else if (additional && !cJSON_IsTrue(additional)) {
        size_t old = push_path(c, "additionalProperties");
        st = compile(c, additional, depth + 1, &additional_node);
        c->path[old] = 0;
        if (st) return st;
    }
    if (!node_satisfiable(c->s, additional_node)) additional_node = -1;
    cn_json_node *self = &c->s->nodes[node];
    self->first_prop = (uint32_t)c->s->n_props;
    self->n_props = 0;
    self->additional = additional_node;
    for (uint32_t i = 0; i < n && !st; i++) {
        if (find_property(c->s, &c->s->nodes[node], child_names[i]) >= 0) continue; /* duplicate key: cJSON keeps both */
        st = add_property(c, child_names[i], child_nodes[i], &c->s->nodes[node].n_props);
    }
    bool object_ok = true;
    for (const cJSON *r = required ? required->child : NULL; r && !st; r = r->next) {
        if (!cJSON_IsString(r)) return fail_at(c, CN_ERR_ARG, "'required' must be an array of names");
        int32_t at = find_property(c->s, &c->s->nodes[node], r->valuestring);
        if (at < 0) { /* required but undeclared: an additional property that must appear */
            if (additional_node < 0) {
                object_ok = false;
                continue;
            }
            st = add_property(c, r->valuestring, additional_node, &c->s->nodes[node].n_props);
            at = (int32_t)c->s->nodes[node].n_props - 1;
        }
        if (!st) c->s->nodes[node].required |= 1ull << at;
    }
    if (st) return st;
    self = &c->s->nodes[node];
    for (uint32_t i = 0; i < self->n_props; i++) {
        if (node_satisfiable(c->s, c->s->props[self->first_prop + i].node)) continue;
        if (self->required >> i & 1) object_ok = false;
        self->forbidden |= 1ull << i;
    }
    if (!object_ok) self->types &= ~(uint32_t)CN_JSON_OBJECT;
    return CN_OK;
}

static cn_status compile_array(compiler *c, const cJSON *schema, int depth, int32_t node) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
    const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maxItems");
    int32_t items_node = c->s->any;
    cn_status st = CN_OK;
    if (items && cJSON_IsArray(items)) return fail_at(c, CN_ERR_UNSUPPORTED, "'items' as an array (tuple validation) is not supported");
    if (items && !cJSON_IsTrue(items)) {
        size_t old = push_path(c, "items");
        st = compile(c, items, depth + 1, &items_node);
        c->path[old] = 0;
        if (st) return st;
    }
    uint32_t min_items = 0, max_items = UINT32_MAX;
    if (min && (st = read_count(c, min, "minItems", &min_items))) return st;
    if (max && (st = read_count(c, max, "maxItems", &max_items))) return st;
    cn_json_node *self = &c->s->nodes[node];
    self->items = items_node;
    if (!node_satisfiable(c->s, items_node)) max_items = 0;
    self->min_items = min_items;
    self->max_items = max_items;
    if (min_items > max_items) self->types &= ~(uint32_t)CN_JSON_ARRAY;
    return CN_OK;
}

static cn_status compile_enum(compiler *c, const cJSON *schema, int32_t node) {
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(schema, "enum");
    const cJSON *constant = cJSON_GetObjectItemCaseSensitive(schema, "const");
    if (values && !cJSON_IsArray(values)) return fail_at(c, CN_ERR_ARG, "'enum' must be an array");
    static const char *const structural[] = {"properties", "required", "additionalProperties", "items", "minItems", "maxItems"};
    for (size_t i = 0; i < sizeof structural / sizeof structural[0]; i++)
        if (cJSON_GetObjectItemCaseSensitive(schema, structural[i])) {
            char msg[128];
            snprintf(msg, sizeof msg, "'%s' together with enum or const is not supported", structural[i]);
            return fail_at(c, CN_ERR_UNSUPPORTED, msg);
        }
    int32_t root;
    cn_status st = new_enum_node(c, 0, &root);
    if (st) return st;
    c->s->nodes[node].enum_root = root;
    uint32_t types = c->s->nodes[node].types, literal_types = 0;
    const cJSON *list = constant ? constant : values ? values->child : NULL;
    for (const cJSON *v = list; v; v = constant ? NULL : v->next) {
        if (constant && values) { /* const and enum: the const must also be an enum member */
            bool member = false;
            for (const cJSON *e = values->child; e && !member; e = e->next) member = cJSON_Compare(v, e, true);
            if (!member) continue;
        }
        uint32_t vt = value_types(v);
        if (!(vt & types)) continue; /* excluded by "type" */
        char *text = cJSON_PrintUnformatted(v);
        if (!text) return cn_fail(c->err, CN_ERR_NOMEM, "JSON schema: out of memory");
        st = enum_insert(c, root, text);
        free(text);
        if (st) return st;
        literal_types |= vt;
    }
    c->s->nodes[node].types = literal_types & types;
    return CN_OK;
}

static cn_status compile(compiler *c, const cJSON *schema, int depth, int32_t *out) {
    if (depth > MAX_SCHEMA_DEPTH) return fail_at(c, CN_ERR_UNSUPPORTED, "the schema nests too deeply");
    if (cJSON_IsTrue(schema)) {
        *out = c->s->any;
        return CN_OK;
    }
    int32_t node;
    cn_status st = new_node(c, &node);
    if (st) return st;
    *out = node;
    if (cJSON_IsFalse(schema)) return CN_OK; /* types 0: nothing satisfies it */
    if (!cJSON_IsObject(schema)) return fail_at(c, CN_ERR_ARG, "a schema must be an object or a boolean");
    static const char *const known[] = {"type",  "properties", "required", "additionalProperties", "items",
                                        "minItems", "maxItems", "enum",     "const"};
    for (const cJSON *k = schema->child; k; k = k->next) {
        bool ok = is_annotation(k->string);
        for (size_t i = 0; i < sizeof known / sizeof known[0] && !ok; i++) ok = !strcmp(known[i], k->string);
        if (!ok) {
            char msg[160];
            snprintf(msg, sizeof msg, "keyword '%.80s' is not supported by constrained decoding", k->string);
            return fail_at(c, CN_ERR_UNSUPPORTED, msg);
        }
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(schema, "type");
    uint32_t types = CN_JSON_ANY_TYPE;
    if (type) {
        types = 0;
        const cJSON *one = cJSON_IsArray(type) ? type->child : type;
        for (; one; one = cJSON_IsArray(type) ? one->next : NULL) {
            uint32_t bit = cJSON_IsString(one) ? type_bit(one->valuestring) : 0;
            if (!bit) return fail_at(c, CN_ERR_ARG, "'type' must be one of null, boolean, integer, number, string, array, object (or a list of them)");
            types |= bit;
        }
    }
    c->s->nodes[node].types = types;
    if (cJSON_GetObjectItemCaseSensitive(schema, "enum") || cJSON_GetObjectItemCaseSensitive(schema, "const"))
        return compile_enum(c, schema, node);
    if ((st = compile_object(c, schema, depth, node)) != CN_OK) return st;
    return compile_array(c, schema, depth, node);
}

void cn_json_schema_free(cn_json_schema *schema) {
    if (!schema) return;
    free(schema->nodes);
    free(schema->enum_nodes);
    free(schema->props);
    free(schema->names);
    free(schema);
}

/* The "any value" node every schema starts with (node 0). */
static cn_status start(compiler *c, cn_json_schema **out, cn_error *err) {
    *out = NULL;
    c->err = err;
    c->path[0] = 0;
    if (!(c->s = calloc(1, sizeof *c->s))) return cn_fail(err, CN_ERR_NOMEM, "JSON schema: out of memory");
    int32_t any;
    cn_status st = new_node(c, &any);
    if (st) {
        cn_json_schema_free(c->s);
        return st;
    }
    c->s->any = any;
    c->s->nodes[any].types = CN_JSON_ANY_TYPE;
    c->s->nodes[any].additional = any;
    c->s->nodes[any].items = any;
    return CN_OK;
}

cn_status cn_json_schema_compile(const cJSON *schema, cn_json_schema **out, cn_error *err) {
    compiler c;
    cn_status st = start(&c, out, err);
    if (st) return st;
    if (!schema) st = cn_fail(err, CN_ERR_ARG, "JSON schema: no schema given");
    if (!st) st = compile(&c, schema, 0, &c.s->root);
    if (!st && !node_satisfiable(c.s, c.s->root)) st = fail_at(&c, CN_ERR_ARG, "no JSON value satisfies this schema");
    if (st) {
        cn_json_schema_free(c.s);
        return st;
    }
    *out = c.s;
    return CN_OK;
}

cn_status cn_json_schema_any_object(cn_json_schema **out, cn_error *err) {
    compiler c;
    cn_status st = start(&c, out, err);
    if (st) return st;
    int32_t root;
    if ((st = new_node(&c, &root)) != CN_OK) {
        cn_json_schema_free(c.s);
        return st;
    }
    c.s->root = root;
    c.s->nodes[root].types = CN_JSON_OBJECT;
    c.s->nodes[root].additional = c.s->any;
    c.s->nodes[root].items = c.s->any;
    *out = c.s;
    return CN_OK;
}
