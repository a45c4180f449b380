/* The sandboxed shell tool (shell_tool.h). */
#include "agent/shell_tool.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/sandbox.h"
#include "agent/tool_text.h"
#include "agent/workspace_digest.h"

typedef struct {
    const cn_policy *policy;
    char *bwrap;
    cn_cgroup_site cgroup; /* found once per toolbox (sandbox_cgroup.h) */
} shell_tool;

static void shell_tool_free(void *ctx) {
    shell_tool *t = ctx;
    free(t->bwrap);
    free(t);
}

static cn_sandbox_config sandbox_config(const shell_tool *t, const char *workspace) {
    return (cn_sandbox_config){.bwrap = t->bwrap, .workspace = workspace, .network = t->policy->shell_network,
                               .limits = t->policy->limits, .read_only_paths = t->policy->read_only_paths,
                               .n_read_only_paths = t->policy->n_read_only_paths, .cgroup = &t->cgroup};
}

/* The result the model sees: a JSON object with the exit status, how the run ended and the
 * output (lossy UTF-8), and how much output was cut. */
static char *result_json(const cn_sandbox_result *sr, const cn_policy_limits *lim, const cn_cgroup_site *cg) {
    cJSON *o = cJSON_CreateObject();
    if (sr->exit_code >= 0) cJSON_AddNumberToObject(o, "exit_code", sr->exit_code);
    else cJSON_AddNullToObject(o, "exit_code");
    if (sr->term_signal) {
        const char *name = sigabbrev_np(sr->term_signal);
        char sig[32];
        snprintf(sig, sizeof sig, "SIG%s", name ? name : "?");
        cJSON_AddStringToObject(o, "signal", sig);
    }
    char note[160];
    if (sr->timed_out) {
        snprintf(note, sizeof note, "killed at the time limit (%.1f s)", sr->elapsed_s);
        cJSON_AddStringToObject(o, "killed", note);
    } else if (sr->process_limit) {
        snprintf(note, sizeof note, "killed for running more than %lld processes", (long long)lim->max_processes);
        cJSON_AddStringToObject(o, "killed", note);
    }
    if (sr->oom_kills > 0) {
        snprintf(note, sizeof note, "%ld process(es) killed at the sandbox's memory limit (%lld MiB)", sr->oom_kills,
                 (long long)(lim->memory_bytes >> 20));
        cJSON_AddStringToObject(o, "memory_limit", note);
    }
    char *text = cn_tool_text_lossy(sr->output, sr->output_len);
    cJSON_AddStringToObject(o, "output", text ? text : "");
    free(text);
    if (sr->output_total > sr->output_len) {
        snprintf(note, sizeof note, "truncated %llu bytes (output limit %lld bytes)",
                 (unsigned long long)(sr->output_total - sr->output_len), (long long)lim->output_bytes);
        cJSON_AddStringToObject(o, "truncated", note);
        cJSON_AddNumberToObject(o, "truncated_bytes", (double)(sr->output_total - sr->output_len));
    }
    /* What bounded the command (docs/agent.md, "The shell sandbox"): the journal's tool_result
     * events then say, call by call, whether a cgroup held it. */
    cJSON_AddStringToObject(o, "containment", cg->containment);
    if (sr->cgroup_left) cJSON_AddStringToObject(o, "cgroup_left", "the call's cgroup could not be emptied in time");
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return json;
}

static cn_status run_shell(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r,
                           cn_error *err) {
    const shell_tool *t = self->impl;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(args, "command");
    cn_sandbox_config cfg = sandbox_config(t, env->ws->root);
    unsigned char before[crypto_hash_sha256_BYTES], after[crypto_hash_sha256_BYTES];
    bool have_before = cn_workspace_digest(env->ws->root_fd, before);
    cn_sandbox_result sr;
    cn_status s = cn_sandbox_run(&cfg, cJSON_IsString(cmd) ? cmd->valuestring : "", env->call_deadline, &sr, err);
    if (s != CN_OK) return s;
    /* The command changed the workspace: progress for the loop guard (workspace_digest.h), kept in
     * the guard's files table under a pseudo path (a file really named so would only share its
     * record). */
    if (have_before && cn_workspace_digest(env->ws->root_fd, after) && memcmp(before, after, sizeof after) != 0) {
        r->changed = true;
        snprintf(r->changed_path, sizeof r->changed_path, " shell: workspace tree");
        memcpy(r->changed_hash, after, sizeof after);
    }
    r->content = result_json(&sr, &t->policy->limits, &t->cgroup);
    cn_sandbox_result_free(&sr);
    return r->content ? CN_OK : cn_fail(err, CN_ERR_NOMEM, "out of memory");
}

/* Runs `exit 0` in the sandbox: bwrap present but unable to build it here (user namespaces off, a
 * seccomp-less kernel) must keep the tool away rather than fail every call. */
static cn_status probe(const shell_tool *t, char *why, size_t cap, cn_error *err) {
    /* /usr, read-only, stands in for the workspace: nothing to create, nothing a kill during the
     * probe could leave behind. */
    cn_sandbox_config cfg = sandbox_config(t, "/usr");
    cfg.workspace_read_only = true;
    cfg.limits.timeout_s = 10;
    cn_sandbox_result sr;
    cn_status s = cn_sandbox_run(&cfg, "exit 0", 0, &sr, err);
    if (s != CN_OK) return s;
    if (sr.exit_code != 0) {
        char *text = cn_tool_text_lossy(sr.output, sr.output_len);
        char *nl = text ? strchr(text, '\n') : NULL;
        if (nl) *nl = 0;
        snprintf(why, cap, "bubblewrap cannot build the sandbox here (exit %d): %s", sr.exit_code,
                 text ? text : "");
        free(text);
    }
    cn_sandbox_result_free(&sr);
    return CN_OK;
}

static const char shell_schema[] =
    "{\"type\":\"object\",\"properties\":{\"command\":{\"type\":\"string\",\"description\":"
    "\"a bash command line, run with the workspace as the working directory\"}},"
    "\"required\":[\"command\"],\"additionalProperties\":false}";

cn_status cn_shell_tool_add(cn_toolbox *tb, const cn_policy *policy, FILE *progress, cn_error *err) {
    if (!policy->shell) return CN_OK;
    shell_tool *t = calloc(1, sizeof *t);
    if (!t) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    t->policy = policy;
    char why[700] = "";
    cn_error e = {0};
    if (policy->cgroup == CN_POLICY_CGROUP_OFF) cn_cgroup_site_none(&t->cgroup, "the policy says \"cgroup\": \"off\"");
    else cn_cgroup_site_find(&t->cgroup);
    if (policy->cgroup == CN_POLICY_CGROUP_REQUIRED && t->cgroup.version == CN_CGROUP_NONE) {
        snprintf(why, sizeof why, "the policy requires a cgroup and none is usable: %.600s", t->cgroup.why);
    } else if (cn_sandbox_find_bwrap(&t->bwrap, &e) != CN_OK) {
        snprintf(why, sizeof why, "%.399s", e.msg);
    } else if (probe(t, why, sizeof why, &e) != CN_OK) {
        snprintf(why, sizeof why, "the sandbox cannot start: %.370s", e.msg);
    }
    if (why[0]) {
        if (progress) fprintf(progress, "shell tool not offered: %s\n", why);
        shell_tool_free(t);
        return CN_OK;
    }
    if (progress) {
        fprintf(progress, "shell sandbox containment: %s", t->cgroup.containment);
        if (t->cgroup.version != CN_CGROUP_NONE) fprintf(progress, " (in %s)", t->cgroup.pids_parent);
        if (t->cgroup.why[0]) fprintf(progress, "; %s", t->cgroup.why);
        fprintf(progress, "\n");
    }
    cn_status s = cn_toolbox_on_destroy(tb, shell_tool_free, t, err);
    if (s != CN_OK) return s;
    char description[512];
    snprintf(description, sizeof description,
             "Run a bash command in a sandbox: the workspace (the working directory, /workspace) is the only "
             "writable place besides a private /tmp; %s; limits: %lld s wall time, %lld s CPU, %lld MiB memory, "
             "%lld processes, the first %lld bytes of stdout+stderr are returned.",
             policy->shell_network ? "network allowed" : "no network", (long long)policy->limits.timeout_s,
             (long long)policy->limits.cpu_s, (long long)(policy->limits.memory_bytes >> 20),
             (long long)policy->limits.max_processes, (long long)policy->limits.output_bytes);
    return cn_toolbox_add(tb, "shell", description, shell_schema, CN_TOOL_SIDE_EFFECT, run_shell, t, err);
}
