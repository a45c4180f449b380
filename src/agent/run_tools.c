/* The run's tool set from its stored settings (run_tools.h). */
#include "agent/run_tools.h"

#include <stdlib.h>

#include "agent/mcp_tools.h"
#include "agent/policy.h"
#include "agent/shell_tool.h"

static void policy_free(void *ctx) {
    cn_policy_free(ctx);
    free(ctx);
}

/* The policy's tools (docs/agent.md, "Policy"); the parsed policy lives as long as the toolbox. */
static cn_status add_policy_tools(cn_toolbox *tb, const cn_run_tools_config *cfg, cn_error *err) {
    cn_policy *policy = malloc(sizeof *policy);
    if (!policy) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cn_status s = cn_policy_parse(cfg->policy_json, policy, err);
    if (s != CN_OK) {
        free(policy);
        return s;
    }
    if ((s = cn_toolbox_on_destroy(tb, policy_free, policy, err)) != CN_OK) return s;
    if (cfg->call_timeout_s) *cfg->call_timeout_s = policy->limits.timeout_s;
    if ((s = cn_shell_tool_add(tb, policy, cfg->progress, err)) != CN_OK) return s;
    return cn_http_get_tool_add(tb, policy, err);
}

cn_status cn_run_tools_build(const cn_run_tools_config *cfg, cn_toolbox **out, cn_error *err) {
    cn_toolbox *tb;
    cn_status s = cn_toolbox_create(&tb, err);
    if (s != CN_OK) return s;
    s = cn_tools_add_files(tb, err);
    if (s == CN_OK) s = add_policy_tools(tb, cfg, err);
    /* MCP servers (mcp_tools.h): started here, stopped by the toolbox's destroy hook. */
    if (s == CN_OK && cfg->mcp_config_json && cfg->mcp_config_json[0])
        s = cn_mcp_add_tools(tb, cfg->mcp_config_json, cfg->workspace, cfg->progress, err);
    if (s != CN_OK) {
        cn_toolbox_destroy(tb);
        return s;
    }
    *out = tb;
    return CN_OK;
}
