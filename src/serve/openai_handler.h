/* What the OpenAI handlers share: one exchange per request (its id, the reply being built or the
 * stream being written, the client's liveness), errors mapped to statuses, and the constraint a
 * chat request needs. The stream begins with the first chunk, so a request refused before any
 * token (a full queue: 429, a prompt too long: 400) still gets a plain error response. */
#ifndef CN_SERVE_OPENAI_HANDLER_H
#define CN_SERVE_OPENAI_HANDLER_H

#include "serve/app.h"
#include "serve/openai.h"

typedef struct {
    serve_app *app;
    serve_response *resp;
    const cn_tokenizer *tokenizer;
    char id[64];
    serve_openai_meta meta;
    bool request_stream, stream_started, client_gone;
    serve_openai_reply reply; /* non-streamed replies */
} serve_openai_exchange;

cn_status serve_openai_exchange_init(serve_openai_exchange *x, serve_app *app, serve_response *resp,
                                     const char *id_prefix, bool stream, cn_error *err);
/* Writes one SSE chunk, beginning the stream first if needed; false once the client has gone. */
bool serve_openai_exchange_send(serve_openai_exchange *x, const cJSON *chunk);
/* For serve_run's polling: true once the client has gone. */
bool serve_openai_exchange_client_gone(void *exchange);
/* Ends the exchange: a stream gets "data: [DONE]" (after an error chunk when st failed); a
 * failure before anything was sent gets the error response for st. Frees the reply. */
void serve_openai_exchange_end(serve_openai_exchange *x, cn_status st, const cn_error *err);

int serve_openai_status_for(cn_status st);
void serve_openai_respond_fault(serve_response *resp, const serve_openai_fault *fault);

/* The constrained decoding a chat request asks for (tool_choice required/named: a DSML tool
 * call; response_format json_object/json_schema: JSON), or none (ops NULL). */
cn_status serve_openai_chat_constraint(serve_app *app, const serve_chat_request *request,
                                       cn_token_constraint *out, cn_error *err);

void serve_openai_handle_completion(void *context, const serve_request *req, serve_response *resp);

#endif
