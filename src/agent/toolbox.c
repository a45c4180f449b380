/* The run's tool set (toolbox.h). */
#include "agent/toolbox.h"

#include <stdlib.h>
#include <string.h>

#include "text/function_name.h"

typedef struct {
    void (*fn)(void *ctx);
    void *ctx;
} destroy_hook;

struct cn_toolbox {
    cn_tool *tools;
    size_t n, cap;
    destroy_hook *hooks;
    size_t n_hooks, cap_hooks;
};

cn_status cn_toolbox_create(cn_toolbox **out, cn_error *err) {
    *out = calloc(1, sizeof **out);
    return *out ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
}

static void tool_free(cn_tool *t) {
    free(t->name);
    free(t->description);
    free(t->parameters);
}

void cn_toolbox_destroy(cn_toolbox *tb) {
    if (!tb) return;
    for (size_t i = tb->n_hooks; i-- > 0;) tb->hooks[i].fn(tb->hooks[i].ctx);
    for (size_t i = 0; i < tb->n; i++) tool_free(&tb->tools[i]);
    free(tb->tools);
    free(tb->hooks);
    free(tb);
}

cn_status cn_toolbox_add(cn_toolbox *tb, const char *name, const char *description, const char *parameters,
                         cn_tool_class cls, cn_tool_run_fn run, void *impl, cn_error *err) {
    if (!cn_function_name_valid(name))
        return cn_fail(err, CN_ERR_ARG, "tool name \"%.80s\" is not 1-64 characters of [A-Za-z0-9_-]", name);
    if (cn_toolbox_find(tb, name)) return cn_fail(err, CN_ERR_ARG, "two tools are named \"%s\"", name);
    cJSON *schema = cJSON_Parse(parameters);
    bool object = cJSON_IsObject(schema);
    cJSON_Delete(schema);
    if (!object) return cn_fail(err, CN_ERR_FORMAT, "tool \"%s\": parameters are not a JSON object", name);
    if (tb->n == tb->cap) {
        size_t cap = tb->cap ? 2 * tb->cap : 16;
        cn_tool *grown = realloc(tb->tools, cap * sizeof *grown);
        if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        tb->tools = grown;
        tb->cap = cap;
    }
    cn_tool t = {.name = strdup(name), .description = strdup(description ? description : ""),
                 .parameters = strdup(parameters), .cls = cls, .run = run, .impl = impl};
    if (!t.name || !t.description || !t.parameters) {
        tool_free(&t);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    tb->tools[tb->n++] = t;
    return CN_OK;
}

cn_status cn_toolbox_on_destroy(cn_toolbox *tb, void (*fn)(void *ctx), void *ctx, cn_error *err) {
    if (tb->n_hooks == tb->cap_hooks) {
        size_t cap = tb->cap_hooks ? 2 * tb->cap_hooks : 4;
        destroy_hook *grown = realloc(tb->hooks, cap * sizeof *grown);
        if (!grown) {
            fn(ctx); /* the caller hands ownership over either way */
            return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        }
        tb->hooks = grown;
        tb->cap_hooks = cap;
    }
    tb->hooks[tb->n_hooks++] = (destroy_hook){fn, ctx};
    return CN_OK;
}

const cn_tool *cn_toolbox_find(const cn_toolbox *tb, const char *name) {
    for (size_t i = 0; i < tb->n; i++)
        if (!strcmp(tb->tools[i].name, name)) return &tb->tools[i];
    return NULL;
}

size_t cn_toolbox_count(const cn_toolbox *tb) { return tb->n; }

const cn_tool *cn_toolbox_at(const cn_toolbox *tb, size_t i) { return i < tb->n ? &tb->tools[i] : NULL; }
