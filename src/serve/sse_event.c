#include "serve/sse_event.h"

#include <stdlib.h>
#include <string.h>

char *serve_sse_event(const char *name, const cJSON *data, size_t *len) {
    char *json = cJSON_PrintUnformatted(data);
    if (!json) return NULL;
    size_t n_name = strlen(name), n_json = strlen(json);
    size_t total = 7 + n_name + 7 + n_json + 2;
    char *out = malloc(total + 1);
    if (out) {
        char *p = out;
        memcpy(p, "event: ", 7), p += 7;
        memcpy(p, name, n_name), p += n_name;
        memcpy(p, "\ndata: ", 7), p += 7;
        memcpy(p, json, n_json), p += n_json;
        memcpy(p, "\n\n", 3);
        *len = total;
    }
    free(json);
    return out;
}

bool serve_event_stream_send(serve_event_stream *s, const cJSON *event) {
    if (s->client_gone) return false;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(event, "type");
    size_t len = 0;
    char *sse = serve_sse_event(cJSON_IsString(type) ? type->valuestring : "message", event, &len);
    if (!sse) return false;
    if (!s->started) {
        s->started = true;
        serve_stream_begin(s->resp, 200, "text/event-stream");
    }
    if (!serve_stream_write(s->resp, sse, len)) s->client_gone = true;
    free(sse);
    return !s->client_gone;
}

bool serve_event_stream_send_all(serve_event_stream *s, const cJSON *events) {
    bool alive = true;
    for (const cJSON *e = events ? events->child : NULL; e && alive; e = e->next) alive = serve_event_stream_send(s, e);
    return alive;
}

bool serve_event_stream_client_gone(serve_event_stream *s) {
    if (!s->client_gone && serve_response_client_gone(s->resp)) s->client_gone = true;
    return s->client_gone;
}
