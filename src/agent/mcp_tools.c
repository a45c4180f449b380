/* The MCP tool adapter (mcp_tools.h). */
#include "agent/mcp_tools.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/mcp_config.h"
#include "agent/mcp_server.h"
#include "text/function_name.h"

typedef struct {
    cn_mcp_server *server;
    char *tool; /* the server's own name for it */
} mcp_tool;

typedef struct {
    cn_mcp_config cfg;
    char *workspace;
    FILE *progress;
    cn_mcp_server *servers; /* cfg.n; started ones have cfg set */
    cJSON **listings;       /* cfg.n: each server's last tools/list (a cJSON array), what its tools come from */
    /* The MCP tools, in toolbox order: one block from toolbox position base, servers in
     * configuration order, each server's tools in its listing's order. */
    mcp_tool **tools;
    size_t n_tools, cap_tools;
    size_t base;
} mcp_provider;

static void free_tools(mcp_provider *p) {
    for (size_t i = 0; i < p->n_tools; i++) {
        free(p->tools[i]->tool);
        free(p->tools[i]);
    }
    p->n_tools = 0;
}

static void provider_destroy(void *ctx) {
    mcp_provider *p = ctx;
    for (size_t i = 0; i < p->cfg.n; i++) {
        if (p->servers && p->servers[i].cfg) cn_mcp_server_stop(&p->servers[i]);
        if (p->listings) cJSON_Delete(p->listings[i]);
    }
    free_tools(p);
    free(p->tools);
    free(p->listings);
    free(p->servers);
    cn_mcp_config_free(&p->cfg);
    free(p->workspace);
    free(p);
}

void cn_mcp_tool_name(const char *server, const char *tool, char out[65]) {
    size_t n = 0;
    for (const char *parts[] = {server, "__", tool}, **p = parts; p < parts + 3; p++)
        for (const char *c = *p; *c && n < 64; c++)
            out[n++] = cn_function_name_char(*c) ? *c : '_';
    out[n] = 0;
}

/* A growing text buffer for joining content blocks. */
typedef struct {
    char *s;
    size_t len, cap;
    bool cut;
} text_buf;

static void add(text_buf *b, const char *s, size_t n) {
    if (b->cut) return;
    if (b->len + n > CN_MCP_RESULT_LIMIT) {
        n = CN_MCP_RESULT_LIMIT - b->len;
        b->cut = true;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->cut = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void add_str(text_buf *b, const char *s) { add(b, s, strlen(s)); }

static const char *str_field(const cJSON *o, const char *key, const char *fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : fallback;
}

/* One content block as text for the model (MCP 2025-06-18 content types). */
static void add_block(text_buf *b, const cJSON *block) {
    const char *type = str_field(block, "type", "?");
    char line[600];
    if (!strcmp(type, "text")) {
        add_str(b, str_field(block, "text", ""));
        return;
    }
    if (!strcmp(type, "image") || !strcmp(type, "audio")) {
        snprintf(line, sizeof line, "[%s: %.100s, %zu bytes base64]", type, str_field(block, "mimeType", "?"),
                 strlen(str_field(block, "data", "")));
    } else if (!strcmp(type, "resource_link")) {
        snprintf(line, sizeof line, "[resource link: %.300s (%.100s)]", str_field(block, "uri", "?"),
                 str_field(block, "name", ""));
    } else if (!strcmp(type, "resource")) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(block, "resource");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(r, "text");
        if (cJSON_IsString(text)) {
            add_str(b, text->valuestring);
            return;
        }
        snprintf(line, sizeof line, "[resource: %.300s, %.100s, %zu bytes base64]", str_field(r, "uri", "?"),
                 str_field(r, "mimeType", "?"), strlen(str_field(r, "blob", "")));
    } else {
        snprintf(line, sizeof line, "[content of type %.60s]", type);
    }
    add_str(b, line);
}

static cn_status set_result(cn_tool_result *r, text_buf *b, bool is_error, cn_error *err) {
    if (b->cut && b->s) {
        char note[64];
        int n = snprintf(note, sizeof note, "\n[result cut at %u bytes]", CN_MCP_RESULT_LIMIT);
        char *p = realloc(b->s, b->len + (size_t)n + 1);
        if (!p) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        b->s = p;
        memcpy(b->s + b->len, note, (size_t)n + 1);
    }
    r->content = b->s ? b->s : strdup("");
    r->is_error = is_error;
    return r->content ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
}

/* The call's deadline: the server's timeout_s, or the run's per-call deadline if sooner. */
static double call_deadline(const cn_mcp_server *srv, const cn_tool_env *env) {
    double deadline = cn_mcp_now() + srv->cfg->timeout_s;
    if (env && env->call_deadline > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double left = env->call_deadline - ((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
        if (cn_mcp_now() + left < deadline) deadline = cn_mcp_now() + (left > 0 ? left : 0);
    }
    return deadline;
}

static cn_status run_mcp_tool(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r,
                              cn_error *err) {
    mcp_tool *t = self->impl;
    cJSON *result = NULL;
    char problem[1024];
    cn_status s = cn_mcp_server_call(t->server, t->tool, args, call_deadline(t->server, env), &result, problem,
                                     sizeof problem, err);
    if (s != CN_OK) return s;
    text_buf b = {0};
    if (!result) {
        add_str(&b, problem);
        return set_result(r, &b, true, err);
    }
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(result, "content");
    const cJSON *blocks = cJSON_IsArray(content) ? content : NULL;
    const cJSON *structured = cJSON_GetObjectItemCaseSensitive(result, "structuredContent");
    const cJSON *block;
    bool first = true;
    cJSON_ArrayForEach(block, blocks) {
        if (!first) add_str(&b, "\n");
        first = false;
        add_block(&b, block);
    }
    if (first && structured) {
        char *json = cJSON_PrintUnformatted(structured);
        if (json) add_str(&b, json);
        free(json);
    }
    bool is_error = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"));
    cJSON_Delete(result);
    return set_result(r, &b, is_error, err);
}

static cn_tool_class tool_class(const cJSON *tool) {
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(tool, "annotations");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ann, "readOnlyHint"))) return CN_TOOL_READ_ONLY;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ann, "idempotentHint"))) return CN_TOOL_IDEMPOTENT;
    return CN_TOOL_SIDE_EFFECT;
}

static cn_status add_server_tools(cn_toolbox *tb, mcp_provider *p, cn_mcp_server *srv, const cJSON *tools,
                                  FILE *progress, cn_error *err) {
    const char *server = srv->cfg->name;
    const cJSON *tool;
    cJSON_ArrayForEach(tool, tools) {
        const char *name = str_field(tool, "name", NULL);
        if (!name || !name[0]) {
            cn_mcp_note(progress, server, "skipped a tool without a name");
            continue;
        }
        const cJSON *schema = cJSON_GetObjectItemCaseSensitive(tool, "inputSchema");
        if (schema && !cJSON_IsObject(schema)) {
            cn_mcp_note(progress, server, "skipped tool \"%.80s\": its inputSchema is not an object", name);
            continue;
        }
        char full[65];
        cn_mcp_tool_name(server, name, full);
        if (cn_toolbox_find(tb, full)) {
            cn_mcp_note(progress, server, "skipped tool \"%.80s\": its name %s is taken", name, full);
            continue;
        }
        char *params = schema ? cJSON_PrintUnformatted(schema) : strdup("{\"type\":\"object\",\"properties\":{}}");
        mcp_tool *t = calloc(1, sizeof *t);
        if (p->n_tools == p->cap_tools) {
            size_t cap = p->cap_tools ? 2 * p->cap_tools : 16;
            mcp_tool **grown = realloc(p->tools, cap * sizeof *grown);
            if (grown) p->tools = grown, p->cap_tools = cap;
        }
        if (!params || !t || p->n_tools == p->cap_tools || !(t->tool = strdup(name))) {
            free(params);
            if (t) free(t->tool);
            free(t);
            return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        }
        t->server = srv;
        const char *description = str_field(tool, "description", str_field(tool, "title", ""));
        cn_status s = cn_toolbox_insert(tb, p->base + p->n_tools, full, description, params, tool_class(tool),
                                        run_mcp_tool, t, err);
        free(params);
        if (s != CN_OK) {
            free(t->tool);
            free(t);
            return cn_error_prefix(err, "MCP server \"%s\"", server);
        }
        p->tools[p->n_tools++] = t;
    }
    return CN_OK;
}

/* The toolbox's refresh hook: servers that announced a new tool list (or were restarted) are
 * listed again; if any listing differs from the last, the whole MCP block is rebuilt in place
 * from the listings, so the order is the one a fresh start with the same listings gives. */
static cn_status provider_refresh(void *ctx, cn_toolbox *tb, cn_error *err) {
    mcp_provider *p = ctx;
    bool changed = false;
    for (size_t i = 0; i < p->cfg.n; i++) {
        if (!p->servers[i].cfg) continue;
        cJSON *tools = NULL;
        cn_status s = cn_mcp_server_refresh(&p->servers[i], &tools, err);
        if (s != CN_OK) return s;
        if (!tools) continue;
        if (cJSON_Compare(tools, p->listings[i], true)) {
            cJSON_Delete(tools);
            continue;
        }
        cJSON_Delete(p->listings[i]);
        p->listings[i] = tools;
        changed = true;
        cn_mcp_note(p->progress, p->cfg.servers[i].name, "now offers %d tool(s)", cJSON_GetArraySize(tools));
    }
    if (!changed) return CN_OK;
    for (size_t i = 0; i < p->n_tools; i++) cn_toolbox_remove_at(tb, p->base);
    free_tools(p);
    for (size_t i = 0; i < p->cfg.n; i++) {
        if (!p->servers[i].cfg) continue;
        cn_status s = add_server_tools(tb, p, &p->servers[i], p->listings[i], p->progress, err);
        if (s != CN_OK) return s;
    }
    return CN_OK;
}

cn_status cn_mcp_add_tools(cn_toolbox *tb, const char *config_json, const char *workspace, FILE *progress,
                           cn_error *err) {
    mcp_provider *p = calloc(1, sizeof *p);
    if (!p) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    if (workspace && !(p->workspace = strdup(workspace))) {
        free(p);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    cn_status s = cn_mcp_config_parse(config_json, &p->cfg, err);
    if (s != CN_OK) {
        free(p->workspace);
        free(p);
        return s;
    }
    p->progress = progress;
    p->base = cn_toolbox_count(tb);
    if (p->cfg.n && (!(p->servers = calloc(p->cfg.n, sizeof *p->servers)) ||
                     !(p->listings = calloc(p->cfg.n, sizeof *p->listings)))) {
        provider_destroy(p);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    /* From here the toolbox owns the provider: whatever fails below, destroying it stops the servers. */
    if ((s = cn_toolbox_on_destroy(tb, provider_destroy, p, err)) != CN_OK) return s;
    if ((s = cn_toolbox_on_refresh(tb, provider_refresh, p, err)) != CN_OK) return s;
    for (size_t i = 0; i < p->cfg.n; i++) {
        if ((s = cn_mcp_server_start(&p->servers[i], &p->cfg.servers[i], p->workspace, progress, &p->listings[i],
                                     err)) != CN_OK) {
            p->servers[i].cfg = NULL;
            return s;
        }
        if ((s = add_server_tools(tb, p, &p->servers[i], p->listings[i], progress, err)) != CN_OK) return s;
    }
    return CN_OK;
}
