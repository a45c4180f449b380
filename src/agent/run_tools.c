/* The run's tool set from its stored settings (run_tools.h). */
#include "agent/run_tools.h"

#include "agent/mcp_tools.h"

cn_status cn_run_tools_build(const cn_run_tools_config *cfg, cn_toolbox **out, cn_error *err) {
    cn_toolbox *tb;
    cn_status s = cn_toolbox_create(&tb, err);
    if (s != CN_OK) return s;
    s = cn_tools_add_files(tb, err);
    /* MCP servers (mcp_tools.h): started here, stopped by the toolbox's destroy hook. */
    if (s == CN_OK && cfg->mcp_config_json && cfg->mcp_config_json[0])
        s = cn_mcp_add_tools(tb, cfg->mcp_config_json, cfg->progress, err);
    if (s != CN_OK) {
        cn_toolbox_destroy(tb);
        return s;
    }
    *out = tb;
    return CN_OK;
}
