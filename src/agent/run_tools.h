/* Which tools a run offers: the workspace file tools always; the sandboxed shell and HTTP GET tools
 * as far as the run's policy grants them; every tool of the MCP servers in the run's MCP
 * configuration. Both documents are stored in the journal when the run is created (the settings
 * table, run.h), so a resumed run rebuilds the same tool set from them. */
#ifndef CN_AGENT_RUN_TOOLS_H
#define CN_AGENT_RUN_TOOLS_H

#include <stdint.h>
#include <stdio.h>

#include "agent/toolbox.h"

typedef struct {
    const char *policy_json;     /* the --policy file's text; NULL or "" = the default policy */
    const char *mcp_config_json; /* the --mcp-config file's text; NULL or "" = no MCP servers */
    const char *workspace;       /* the workspace's real path: MCP servers get it as their root; may be NULL */
    FILE *progress;              /* provider start-up messages; may be NULL */
    int64_t *call_timeout_s;     /* out, may be NULL: the policy's per-call time limit (limits.timeout_s) */
} cn_run_tools_config;

/* Builds the toolbox; on failure nothing is left running and err names the bad setting. */
cn_status cn_run_tools_build(const cn_run_tools_config *cfg, cn_toolbox **out, cn_error *err);

#endif
