/* A server-sent events parser (WHATWG HTML "event stream interpretation"), as streamable HTTP
 * uses it (specs/protocols.md 3.4): lines end with "\n" or "\r\n"; "data:" lines (one optional
 * space after the colon dropped) accumulate, joined by "\n"; a blank line dispatches the event if
 * it has data; ":" lines are comments; "id:" is kept (Last-Event-ID); "event:" and "retry:" are
 * accepted and not needed (MCP sends every message as the data of an event). An event cut off by
 * the end of the stream is discarded, as the standard says. A lone "\r" line end is not
 * supported. */
#ifndef CN_AGENT_MCP_SSE_H
#define CN_AGENT_MCP_SSE_H

#include <stddef.h>

#include "agent/mcp_jsonrpc.h"

typedef cn_status (*cn_mcp_sse_event_fn)(void *ctx, const char *data, size_t len, cn_error *err);

typedef struct {
    cn_mcp_lines lines;
    char *data;
    size_t data_len, data_cap;
    size_t limit; /* longest event data accepted */
    char last_event_id[128];
} cn_mcp_sse;

void cn_mcp_sse_init(cn_mcp_sse *p, size_t limit);
/* Feeds bytes; calls fn for every complete event. */
cn_status cn_mcp_sse_feed(cn_mcp_sse *p, const char *bytes, size_t n, cn_mcp_sse_event_fn fn, void *ctx,
                          cn_error *err);
void cn_mcp_sse_free(cn_mcp_sse *p);

#endif
