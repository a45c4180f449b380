/* Parsing of the --mcp-config document (mcp_config.h). */
#include "agent/mcp_config.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void server_free(cn_mcp_server_config *s) {
    free(s->name);
    free(s->command);
    for (size_t i = 0; i < s->n_args; i++) free(s->args[i]);
    free(s->args);
    for (size_t i = 0; i < s->n_env; i++) free(s->env[i].key), free(s->env[i].value);
    free(s->env);
    free(s->cwd);
    free(s->url);
    for (size_t i = 0; i < s->n_headers; i++) free(s->headers[i].key), free(s->headers[i].value);
    free(s->headers);
}

void cn_mcp_config_free(cn_mcp_config *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) server_free(&c->servers[i]);
    free(c->servers);
    c->servers = NULL;
    c->n = 0;
}

static cn_status dup_string(const char *server, const char *key, const cJSON *v, char **out, cn_error *err) {
    if (!cJSON_IsString(v))
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.%s must be a string", server, key);
    if (!(*out = strdup(v->valuestring))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    return CN_OK;
}

static cn_status string_map(const char *server, const char *key, const cJSON *obj, cn_mcp_pair **out, size_t *n,
                            cn_error *err) {
    if (!cJSON_IsObject(obj))
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.%s must be an object of strings", server, key);
    size_t count = (size_t)cJSON_GetArraySize(obj);
    if (!count) return CN_OK;
    if (!(*out = calloc(count, sizeof **out))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    const cJSON *v;
    cJSON_ArrayForEach(v, obj) {
        if (!cJSON_IsString(v))
            return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.%s.%s must be a string", server, key,
                           v->string);
        cn_mcp_pair *p = &(*out)[(*n)++];
        if (!(p->key = strdup(v->string)) || !(p->value = strdup(v->valuestring)))
            return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    return CN_OK;
}

static cn_status parse_server(const cJSON *obj, cn_mcp_server_config *s, cn_error *err) {
    const char *name = obj->string;
    if (!name[0]) return cn_fail(err, CN_ERR_FORMAT, "MCP config: a server name is empty");
    if (!(s->name = strdup(name))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    if (!cJSON_IsObject(obj)) return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s must be an object", name);
    s->timeout_s = CN_MCP_DEFAULT_TIMEOUT_S;
    const char *type = NULL;
    cn_status st = CN_OK;
    const cJSON *v;
    cJSON_ArrayForEach(v, obj) {
        const char *k = v->string;
        if (!strcmp(k, "command")) {
            st = dup_string(name, k, v, &s->command, err);
        } else if (!strcmp(k, "cwd")) {
            st = dup_string(name, k, v, &s->cwd, err);
        } else if (!strcmp(k, "url")) {
            st = dup_string(name, k, v, &s->url, err);
        } else if (!strcmp(k, "env")) {
            st = string_map(name, k, v, &s->env, &s->n_env, err);
        } else if (!strcmp(k, "headers")) {
            st = string_map(name, k, v, &s->headers, &s->n_headers, err);
        } else if (!strcmp(k, "args")) {
            if (!cJSON_IsArray(v))
                return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.args must be an array of strings", name);
            size_t count = (size_t)cJSON_GetArraySize(v);
            if (count && !(s->args = calloc(count, sizeof *s->args))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
            const cJSON *a;
            cJSON_ArrayForEach(a, v) {
                if (!cJSON_IsString(a))
                    return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.args[%zu] must be a string", name,
                                   s->n_args);
                if (!(s->args[s->n_args++] = strdup(a->valuestring)))
                    return cn_fail(err, CN_ERR_NOMEM, "out of memory");
            }
        } else if (!strcmp(k, "timeout_s")) {
            if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || v->valuedouble > 86400)
                return cn_fail(err, CN_ERR_FORMAT,
                               "MCP config: mcpServers.%s.timeout_s must be a number of seconds in (0, 86400]", name);
            s->timeout_s = v->valuedouble;
        } else if (!strcmp(k, "type")) {
            if (!cJSON_IsString(v) || (strcmp(v->valuestring, "stdio") && strcmp(v->valuestring, "http") &&
                                       strcmp(v->valuestring, "streamable-http")))
                return cn_fail(err, CN_ERR_FORMAT,
                               "MCP config: mcpServers.%s.type must be \"stdio\", \"http\" or \"streamable-http\"",
                               name);
            type = v->valuestring;
        } else {
            return cn_fail(err, CN_ERR_FORMAT,
                           "MCP config: mcpServers.%s has an unknown key \"%.60s\" (known: command, args, env, cwd, "
                           "url, headers, timeout_s, type)",
                           name, k);
        }
        if (st != CN_OK) return st;
    }
    if (!s->command == !s->url)
        return cn_fail(err, CN_ERR_FORMAT,
                       "MCP config: mcpServers.%s needs exactly one of \"command\" (stdio) or \"url\" (streamable HTTP)",
                       name);
    if (s->command && !s->command[0])
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.command is empty", name);
    if (s->url && (cJSON_GetObjectItemCaseSensitive(obj, "args") || cJSON_GetObjectItemCaseSensitive(obj, "env") || s->cwd))
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s: args, env and cwd apply to \"command\" servers only",
                       name);
    if (s->command && cJSON_GetObjectItemCaseSensitive(obj, "headers"))
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s: headers apply to \"url\" servers only", name);
    if (s->url && strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8))
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.url must start with http:// or https://", name);
    if (type && (!strcmp(type, "stdio") != !!s->command))
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: mcpServers.%s.type \"%s\" does not match its %s", name, type,
                       s->command ? "command" : "url");
    return CN_OK;
}

cn_status cn_mcp_config_parse(const char *json, cn_mcp_config *out, cn_error *err) {
    *out = (cn_mcp_config){0};
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cn_fail(err, CN_ERR_FORMAT, "MCP config: not a JSON object (expected {\"mcpServers\": {...}})");
    }
    cn_status s = CN_OK;
    const cJSON *servers = NULL, *v;
    cJSON_ArrayForEach(v, root) {
        if (strcmp(v->string, "mcpServers")) {
            s = cn_fail(err, CN_ERR_FORMAT, "MCP config: unknown top-level key \"%.60s\" (known: mcpServers)", v->string);
            goto done;
        }
        servers = v;
    }
    if (!cJSON_IsObject(servers)) {
        s = cn_fail(err, CN_ERR_FORMAT, "MCP config: \"mcpServers\" must be an object of servers");
        goto done;
    }
    size_t count = (size_t)cJSON_GetArraySize(servers);
    if (count && !(out->servers = calloc(count, sizeof *out->servers))) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }
    cJSON_ArrayForEach(v, servers) {
        for (size_t i = 0; i < out->n; i++)
            if (!strcmp(out->servers[i].name, v->string)) {
                s = cn_fail(err, CN_ERR_FORMAT, "MCP config: server \"%s\" is named twice", v->string);
                goto done;
            }
        if ((s = parse_server(v, &out->servers[out->n++], err)) != CN_OK) goto done;
    }
done:
    cJSON_Delete(root);
    if (s != CN_OK) cn_mcp_config_free(out);
    return s;
}
