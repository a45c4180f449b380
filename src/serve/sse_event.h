/* One server-sent event with an event name, as the Anthropic Messages and OpenAI Responses streams
 * send them ("event: NAME\ndata: JSON\n\n"); their SDKs dispatch on the event line (the Anthropic
 * SDK skips data without one). Chat Completions chunks have no event line (openai.h). */
#ifndef CN_SERVE_SSE_EVENT_H
#define CN_SERVE_SSE_EVENT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* "event: " + name + "\ndata: " + compact JSON + "\n\n", malloc'd; NULL when memory ran out. */
char *serve_sse_event(const char *name, const cJSON *data, size_t *len);

#endif
