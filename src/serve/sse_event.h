/* One server-sent event with an event name, as the Anthropic Messages and OpenAI Responses streams
 * send them ("event: NAME\ndata: JSON\n\n"); their SDKs dispatch on the event line (the Anthropic
 * SDK skips data without one). Chat Completions chunks have no event line (openai.h). */
#ifndef CN_SERVE_SSE_EVENT_H
#define CN_SERVE_SSE_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "serve/http.h"

/* "event: " + name + "\ndata: " + compact JSON + "\n\n", malloc'd; NULL when memory ran out. */
char *serve_sse_event(const char *name, const cJSON *data, size_t *len);

/* The sending side of one response's event stream. The 200 text/event-stream answer begins with
 * the first event sent, so that until then a failure can still be a plain error response
 * (started says which). Once a write fails the client is taken as gone and nothing more is sent. */
typedef struct {
    serve_response *resp;
    bool started, client_gone;
} serve_event_stream;

/* Sends event under the name of its "type" member ("message" without one); false once the
 * client has gone or when memory ran out formatting it. */
bool serve_event_stream_send(serve_event_stream *s, const cJSON *event);

/* Sends the items of the array events in order, stopping at the first that fails. */
bool serve_event_stream_send_all(serve_event_stream *s, const cJSON *events);

/* Whether the client has gone: a failed write, or the connection seen closed (polled). */
bool serve_event_stream_client_gone(serve_event_stream *s);

#endif
