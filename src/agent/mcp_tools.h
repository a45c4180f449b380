/* MCP tools in the run's toolbox: every tool of every server in the --mcp-config document, named
 * "<server>__<tool>" (characters outside [A-Za-z0-9_-] become "_", cut to 64: the OpenAI function
 * name rule), described by its description (or title), with its inputSchema as the parameters and
 * an idempotency class from its annotations: readOnlyHint -> read_only, else idempotentHint ->
 * idempotent, else side_effect (hints from the server, trusted as the run's configuration;
 * specs/protocols.md 3.3). A result's text content blocks are joined with newlines; other blocks
 * are summarised ("[image: image/png, 1234 bytes base64]"); structuredContent is used when there is
 * no content; isError makes it a tool error for the model. The toolbox's refresh hook (run between
 * steps) lists a server's tools again after its notifications/tools/list_changed or a restart and
 * rebuilds the MCP tools in place when the listing changed (docs/agent.md, "Tool list changes"). */
#ifndef CN_AGENT_MCP_TOOLS_H
#define CN_AGENT_MCP_TOOLS_H

#include <stdio.h>

#include "agent/toolbox.h"

/* Most text one MCP result gives the model; the rest is cut with a note. */
#define CN_MCP_RESULT_LIMIT (1u << 20)

/* Starts every configured server, lists its tools and adds them. The servers are stopped by the
 * toolbox's destroy hook. workspace (absolute, may be NULL) is each session's root (roots/list).
 * On failure err names the server or key at fault. */
cn_status cn_mcp_add_tools(cn_toolbox *tb, const char *config_json, const char *workspace, FILE *progress,
                           cn_error *err);

/* "<server>__<tool>" made a valid tool name: each character the rule of text/function_name.h
 * refuses becomes '_', and the name is cut at 64 (exposed for tests). */
void cn_mcp_tool_name(const char *server, const char *tool, char out[65]);

#endif
