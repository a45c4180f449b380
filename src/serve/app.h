/* What every API adapter of `clawnet serve` shares: the model and its tokenizer, the engine that
 * decodes for all of them, the tool-call registry (exact DSML bytes by call id), the reply registry
 * (the ids each reply was sampled as) and the name the
 * model is served under, the vocabulary constraints read. Made by cli/cmd_serve.c; adapters register their routes with it. */
#ifndef CN_SERVE_APP_H
#define CN_SERVE_APP_H

#include <stdint.h>

#include "model/model.h"
#include "sample/constraint_vocab.h"
#include "serve/engine.h"
#include "serve/http.h"
#include "text/tokenizer.h"

typedef struct serve_tool_calls serve_tool_calls; /* serve/tool_call_registry.h */
typedef struct serve_replies serve_replies;       /* serve/reply_registry.h */

typedef struct {
    cn_model *model;
    const cn_tokenizer *tokenizer;
    cn_engine *engine;
    serve_tool_calls *tool_calls;
    serve_replies *replies; /* sampled ids of recent replies, for the exact round trip (may be NULL) */
    const cn_constraint_vocab *constraint_vocab; /* the tokenizer's vocabulary for constrained decoding
                                                    (tool_choice required/named, JSON response formats);
                                                    NULL: requests that need it are refused */
    const char *model_name; /* the id /v1/models lists and responses carry */
    int64_t ctx;            /* positions per sequence */
    int64_t default_max_tokens;
} serve_app;

/* Each adapter's routes (defined in its own file). */
cn_status serve_openai_routes(serve_http *http, serve_app *app, cn_error *err);
cn_status serve_anthropic_routes(serve_http *http, serve_app *app, cn_error *err);
cn_status serve_responses_routes(serve_http *http, serve_app *app, cn_error *err);

#endif
