/* A server-sent events parser (WHATWG HTML "event stream interpretation"), as streamable HTTP
 * uses it (specs/protocols.md 3.4): lines end with "\n" or "\r\n"; "data:" lines (one optional
 * space after the colon dropped) accumulate, joined by "\n"; a blank line dispatches the event if
 * it has data; ":" lines are comments; "event:" is accepted and not needed (MCP sends every
 * message as the data of an event). "id:" sets the last event ID buffer, which becomes the
 * stream's last event ID (what a reconnection sends as Last-Event-ID) only when the event is
 * dispatched: an event cut off by the end of the stream is discarded together with its id, as the
 * standard says, so a resumed stream replays it. An event whose data is empty (the priming event a
 * 2025-11-25 server sends first: an id, "data:" and nothing else) only moves the last event ID.
 * "retry:" with only digits sets the suggested reconnection delay. A lone "\r" line end is not
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
    char id_buffer[128];     /* the last "id:" seen */
    char last_event_id[128]; /* id_buffer as of the last dispatched event: what Last-Event-ID sends */
    long retry_ms;           /* the last "retry:" value; -1 when none came */
} cn_mcp_sse;

void cn_mcp_sse_init(cn_mcp_sse *p, size_t limit);
/* For a reconnection: a fresh parser that keeps p's last event ID (the standard's event source
 * keeps it across connections) and retry delay. */
void cn_mcp_sse_restart(cn_mcp_sse *p);
/* Feeds bytes; calls fn for every complete event. */
cn_status cn_mcp_sse_feed(cn_mcp_sse *p, const char *bytes, size_t n, cn_mcp_sse_event_fn fn, void *ctx,
                          cn_error *err);
void cn_mcp_sse_free(cn_mcp_sse *p);

#endif
