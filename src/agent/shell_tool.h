/* The tools a run's policy grants beyond the workspace files: `shell` (a command run by bash in
 * the bubblewrap sandbox of sandbox.h; class side_effect) and `http_get` (a GET of an allow-listed
 * host; class read_only). docs/agent.md, "Tools" and "Policy". */
#ifndef CN_AGENT_SHELL_TOOL_H
#define CN_AGENT_SHELL_TOOL_H

#include <stdio.h>

#include "agent/policy.h"
#include "agent/toolbox.h"

/* Adds `shell` if the policy enables it and the sandbox works here: bwrap is looked up on PATH and
 * a trivial command is run in the sandbox once; if either fails the tool is not offered (never
 * run unsandboxed) and a line on progress says why. policy must outlive the toolbox. */
cn_status cn_shell_tool_add(cn_toolbox *tb, const cn_policy *policy, FILE *progress, cn_error *err);

/* Adds `http_get` if the policy allows at least one host. policy must outlive the toolbox. */
cn_status cn_http_get_tool_add(cn_toolbox *tb, const cn_policy *policy, cn_error *err);

#endif
