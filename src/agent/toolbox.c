/* The run's tool set (toolbox.h). */
#include "agent/toolbox.h"

#include <stdlib.h>
#include <string.h>

#include "text/function_name.h"

typedef struct {
    void (*fn)(void *ctx);
    void *ctx;
} destroy_hook;

typedef struct {
    cn_status (*fn)(void *ctx, cn_toolbox *tb, cn_error *err);
    void *ctx;
} refresh_hook;

struct cn_toolbox {
    cn_tool *tools;
    size_t n, cap;
    destroy_hook *hooks;
    size_t n_hooks, cap_hooks;
    refresh_hook *refresh;
    size_t n_refresh;
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
    free(tb->refresh);
    free(tb);
}

cn_status cn_toolbox_add(cn_toolbox *tb, const char *name, const char *description, const char *parameters,
                         cn_tool_class cls, cn_tool_run_fn run, void *impl, cn_error *err) {
    return cn_toolbox_insert(tb, tb->n, name, description, parameters, cls, run, impl, err);
}

cn_status cn_toolbox_insert(cn_toolbox *tb, size_t pos, const char *name, const char *description,
                            const char *parameters, cn_tool_class cls, cn_tool_run_fn run, void *impl, cn_error *err) {
    if (pos > tb->n) return cn_fail(err, CN_ERR_ARG, "tool position %zu is past the end (%zu tools)", pos, tb->n);
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
    memmove(tb->tools + pos + 1, tb->tools + pos, (tb->n - pos) * sizeof *tb->tools);
    tb->tools[pos] = t;
    tb->n++;
    return CN_OK;
}

void cn_toolbox_remove_at(cn_toolbox *tb, size_t pos) {
    if (pos >= tb->n) return;
    tool_free(&tb->tools[pos]);
    memmove(tb->tools + pos, tb->tools + pos + 1, (tb->n - pos - 1) * sizeof *tb->tools);
    tb->n--;
}

cn_status cn_toolbox_on_refresh(cn_toolbox *tb, cn_status (*fn)(void *ctx, cn_toolbox *tb, cn_error *err), void *ctx,
                                cn_error *err) {
    refresh_hook *grown = realloc(tb->refresh, (tb->n_refresh + 1) * sizeof *grown);
    if (!grown) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    tb->refresh = grown;
    tb->refresh[tb->n_refresh++] = (refresh_hook){fn, ctx};
    return CN_OK;
}

cn_status cn_toolbox_refresh(cn_toolbox *tb, cn_error *err) {
    for (size_t i = 0; i < tb->n_refresh; i++) {
        cn_status s = tb->refresh[i].fn(tb->refresh[i].ctx, tb, err);
        if (s != CN_OK) return s;
    }
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
