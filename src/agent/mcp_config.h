/* The --mcp-config document: the common {"mcpServers": {NAME: SERVER, ...}} shape, where SERVER is
 *   {"command": "...", "args": [...], "env": {...}, "cwd": "..."}   (stdio: a process we spawn)
 *   {"url": "http://HOST:PORT/PATH", "headers": {...}}              (streamable HTTP)
 * plus the optional keys "timeout_s" (per request: initialize, tools/list, tools/call; default 60)
 * and "type" ("stdio" | "http" | "streamable-http", checked against command/url). Any other key is
 * an error naming it, so a typo is never silently ignored (docs/agent.md, "MCP"). */
#ifndef CN_AGENT_MCP_CONFIG_H
#define CN_AGENT_MCP_CONFIG_H

#include <stddef.h>

#include "base/error.h"

#define CN_MCP_DEFAULT_TIMEOUT_S 60.0

typedef struct {
    char *key, *value;
} cn_mcp_pair;

typedef struct {
    char *name;
    /* stdio */
    char *command; /* NULL for an HTTP server */
    char **args;   /* n_args strings */
    size_t n_args;
    cn_mcp_pair *env; /* added to (or replacing in) the runtime's environment */
    size_t n_env;
    char *cwd; /* NULL = the runtime's working directory */
    /* streamable HTTP */
    char *url; /* NULL for a stdio server */
    cn_mcp_pair *headers;
    size_t n_headers;
    double timeout_s;
} cn_mcp_server_config;

typedef struct {
    cn_mcp_server_config *servers; /* in document order */
    size_t n;
} cn_mcp_config;

/* Parses and checks the document; on failure *out is empty and err names the bad key. */
cn_status cn_mcp_config_parse(const char *json, cn_mcp_config *out, cn_error *err);
void cn_mcp_config_free(cn_mcp_config *c);

#endif
