/* Running a chat (or raw completion) request on the engine: encode and tokenize the chat, submit
 * with EOS as the stop id, feed the ticket's tokens to the reply's output side (chat_output.h)
 * until it ends, cancel the ticket when a stop string matched or the client went away. */
#ifndef CN_SERVE_CHAT_RUN_H
#define CN_SERVE_CHAT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "serve/app.h"
#include "serve/chat_output.h"
#include "serve/chat_request.h"
#include "serve/engine.h"
#include "serve/tool_call_registry.h"
#include "text/output_parser.h"
#include "text/tokenizer.h"

/* ---- running on the engine ---- */

typedef struct {
    const int32_t *prompt;
    size_t n_prompt;
    bool parse;
    cn_output_start start;
    cn_sampler_params sampling;
    int64_t max_tokens;       /* 0: the app's default */
    char *const *stop;
    size_t n_stop;
    bool logprobs;
    int top_logprobs;
    cn_token_constraint constraint; /* handed to the engine (ops NULL: none); freed here on failure */
    serve_delta_fn sink;
    void *sink_context;
    /* Polled while waiting for tokens (may be NULL): true once the client has disconnected. */
    bool (*client_gone)(void *context);
    void *client_gone_context;
} serve_run_options;

/* Submits to app->engine and streams deltas until the reply ends. CN_ERR_BUSY when the engine's
 * queue is full; CN_ERR_ARG for a prompt the engine refuses (longer than the context, ...); an
 * engine failure during decoding is returned with its message after the deltas sent so far
 * (no FINISH is sent then). A client gone is not an error. */
cn_status serve_run(serve_app *app, const serve_run_options *options, cn_error *err);

/* Encodes a chat request's messages (tools, thinking, effort, response format) and tokenizes them:
 * *ids is malloc'd; *start says whether the prompt ended in <think>. */
cn_status serve_chat_prompt(const serve_app *app, const serve_chat_request *request, int32_t **ids, size_t *n,
                            cn_output_start *start, cn_error *err);

/* The run options for a chat request's prompt (from serve_chat_prompt): its sampling, limits,
 * stops and logprobs; the caller adds the constraint, the sink and the client's liveness. For
 * adapters that need the prompt's length before the first delta (Anthropic's message_start). */
serve_run_options serve_chat_run_options(const serve_chat_request *request, const int32_t *ids, size_t n,
                                         cn_output_start start);

/* serve_chat_prompt + serve_run with the request's settings. *constraint (may be NULL; ops NULL
 * for none) is taken over. */
cn_status serve_chat_run(serve_app *app, const serve_chat_request *request, cn_token_constraint *constraint,
                         serve_delta_fn sink, void *sink_context, bool (*client_gone)(void *), void *client_gone_context,
                         cn_error *err);

#endif
