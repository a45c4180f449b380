/* The run policy parser (policy.h; format in docs/agent.md, "Policy"). */
#include "agent/policy.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *name;
    int64_t min, max, dflt;
    size_t offset;
} limit_field;

/* Bounds keep every limit meaningful: a sandbox needs some memory to start bash at all, and a call
 * longer than a day is a job, not a tool call. */
static const limit_field limit_fields[] = {
    {"timeout_s", 1, 86400, 30, offsetof(cn_policy_limits, timeout_s)},
    {"cpu_s", 1, 86400, 30, offsetof(cn_policy_limits, cpu_s)},
    {"memory_bytes", 64ll << 20, 1ll << 40, 1ll << 30, offsetof(cn_policy_limits, memory_bytes)},
    {"output_bytes", 1, 16ll << 20, 64ll << 10, offsetof(cn_policy_limits, output_bytes)},
    {"file_bytes", 1, 1ll << 40, 1ll << 30, offsetof(cn_policy_limits, file_bytes)},
    {"max_processes", 4, 4096, 64, offsetof(cn_policy_limits, max_processes)},
};
#define N_LIMITS (sizeof limit_fields / sizeof limit_fields[0])

static const char *const top_keys[] = {"shell", "shell_network", "http_get_hosts", "read_only_paths", "limits",
                                       "cgroup"};

void cn_policy_free(cn_policy *p) {
    for (size_t i = 0; i < p->n_http_get_hosts; i++) free(p->http_get_hosts[i]);
    for (size_t i = 0; i < p->n_read_only_paths; i++) free(p->read_only_paths[i]);
    free(p->http_get_hosts);
    free(p->read_only_paths);
    memset(p, 0, sizeof *p);
}

static void set_defaults(cn_policy *p) {
    memset(p, 0, sizeof *p);
    p->shell = true;
    for (size_t i = 0; i < N_LIMITS; i++)
        *(int64_t *)((char *)&p->limits + limit_fields[i].offset) = limit_fields[i].dflt;
}

static cn_status get_bool(const cJSON *root, const char *key, bool *out, cn_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return CN_OK;
    if (!cJSON_IsBool(v)) return cn_fail(err, CN_ERR_ARG, "policy: %s must be true or false", key);
    *out = cJSON_IsTrue(v);
    return CN_OK;
}

/* A host name or IPv4 address ([A-Za-z0-9.-]) or a bracketed IPv6 literal, as curl's URL parser
 * reports hosts; no port, no scheme, no path. */
static bool valid_host(const char *h) {
    size_t n = strlen(h);
    if (n == 0 || n > 253) return false;
    if (h[0] == '[') {
        if (h[n - 1] != ']' || n < 3) return false;
        for (size_t i = 1; i + 1 < n; i++)
            if (!strchr("0123456789abcdefABCDEF:.", h[i])) return false;
        return true;
    }
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* An absolute, normalized path that exists and does not cover or sit inside the sandbox's own
 * mounts (/, /proc, /dev, /tmp itself, /workspace). */
static const char *path_problem(const char *path) {
    if (path[0] != '/') return "is not an absolute path";
    if (!strcmp(path, "/")) return "would expose the whole file system";
    if (strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../") || path[strlen(path) - 1] == '/')
        return "is not normalized (no //, /./, /../ or trailing /)";
    size_t n = strlen(path);
    if ((n >= 2 && !strcmp(path + n - 2, "/.")) || (n >= 3 && !strcmp(path + n - 3, "/..")))
        return "is not normalized (no //, /./, /../ or trailing /)";
    /* Paths below /tmp are bound over the sandbox's private /tmp; /tmp itself would replace it. */
    if (!strcmp(path, "/tmp")) return "is the sandbox's private /tmp";
    static const char *const reserved[] = {"/proc", "/dev", "/workspace"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        size_t r = strlen(reserved[i]);
        if (!strncmp(path, reserved[i], r) && (path[r] == 0 || path[r] == '/'))
            return "lies in a path the sandbox mounts itself (/proc, /dev, /workspace)";
    }
    struct stat st;
    if (stat(path, &st) != 0) return "does not exist";
    return NULL;
}

static cn_status get_strings(const cJSON *root, const char *key, char ***out, size_t *n, bool hosts, cn_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return CN_OK;
    if (!cJSON_IsArray(v)) return cn_fail(err, CN_ERR_ARG, "policy: %s must be an array of strings", key);
    int count = cJSON_GetArraySize(v);
    if (count > 256) return cn_fail(err, CN_ERR_ARG, "policy: %s has %d entries (at most 256)", key, count);
    if (count == 0) return CN_OK;
    if (!(*out = calloc((size_t)count, sizeof **out))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e)) return cn_fail(err, CN_ERR_ARG, "policy: %s[%d] must be a string", key, i);
        const char *s = e->valuestring;
        if (hosts && !valid_host(s))
            return cn_fail(err, CN_ERR_ARG,
                           "policy: %s[%d] \"%.100s\" is not a host name (letters, digits, '.', '-', or [IPv6]; "
                           "no scheme, port or path)",
                           key, i, s);
        const char *problem = hosts ? NULL : path_problem(s);
        if (problem) return cn_fail(err, CN_ERR_ARG, "policy: %s[%d] \"%.200s\" %s", key, i, s, problem);
        if (!((*out)[i] = strdup(s))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
        *n = (size_t)i + 1;
    }
    return CN_OK;
}

static cn_status get_limits(const cJSON *root, cn_policy_limits *limits, cn_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "limits");
    if (!v) return CN_OK;
    if (!cJSON_IsObject(v)) return cn_fail(err, CN_ERR_ARG, "policy: limits must be an object");
    for (const cJSON *e = v->child; e; e = e->next) {
        const limit_field *f = NULL;
        for (size_t i = 0; i < N_LIMITS && !f; i++)
            if (!strcmp(e->string, limit_fields[i].name)) f = &limit_fields[i];
        if (!f)
            return cn_fail(err, CN_ERR_ARG,
                           "policy: unknown key limits.%.80s (known: timeout_s, cpu_s, memory_bytes, output_bytes, "
                           "file_bytes, max_processes)",
                           e->string);
        double d = e->valuedouble;
        if (!cJSON_IsNumber(e) || d != (double)(int64_t)d || d < (double)f->min || d > (double)f->max)
            return cn_fail(err, CN_ERR_ARG, "policy: limits.%s must be an integer from %lld to %lld", f->name,
                           (long long)f->min, (long long)f->max);
        *(int64_t *)((char *)limits + f->offset) = (int64_t)d;
    }
    return CN_OK;
}

static cn_status get_cgroup(const cJSON *root, cn_policy_cgroup *out, cn_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "cgroup");
    if (!v) return CN_OK;
    static const char *const names[] = {"auto", "required", "off"};
    for (int i = 0; i < 3 && cJSON_IsString(v); i++)
        if (!strcmp(v->valuestring, names[i])) {
            *out = (cn_policy_cgroup)i;
            return CN_OK;
        }
    return cn_fail(err, CN_ERR_ARG, "policy: cgroup must be \"auto\", \"required\" or \"off\"");
}

cn_status cn_policy_parse(const char *json, cn_policy *p, cn_error *err) {
    set_defaults(p);
    if (!json || !json[0]) return CN_OK;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, true);
    if (!root)
        return cn_fail(err, CN_ERR_FORMAT, "policy: not valid JSON (at byte %zu)", (size_t)(end ? end - json : 0));
    cn_status s = CN_OK;
    if (!cJSON_IsObject(root)) s = cn_fail(err, CN_ERR_ARG, "policy: the document must be a JSON object");
    for (const cJSON *e = cJSON_IsObject(root) ? root->child : NULL; e && s == CN_OK; e = e->next) {
        bool known = false;
        for (size_t i = 0; i < sizeof top_keys / sizeof top_keys[0]; i++) known |= !strcmp(e->string, top_keys[i]);
        if (!known)
            s = cn_fail(err, CN_ERR_ARG,
                        "policy: unknown key \"%.80s\" (known: shell, shell_network, http_get_hosts, read_only_paths, "
                        "limits, cgroup)",
                        e->string);
    }
    if (s == CN_OK) s = get_bool(root, "shell", &p->shell, err);
    if (s == CN_OK) s = get_bool(root, "shell_network", &p->shell_network, err);
    if (s == CN_OK) s = get_strings(root, "http_get_hosts", &p->http_get_hosts, &p->n_http_get_hosts, true, err);
    if (s == CN_OK) s = get_strings(root, "read_only_paths", &p->read_only_paths, &p->n_read_only_paths, false, err);
    if (s == CN_OK) s = get_limits(root, &p->limits, err);
    if (s == CN_OK) s = get_cgroup(root, &p->cgroup, err);
    cJSON_Delete(root);
    if (s != CN_OK) cn_policy_free(p);
    return s;
}
