/* The serving engine: one thread that owns a model and decodes up to `parallel` sequences
 * together (continuous batching). A request is a prompt of token ids and how to sample; it joins
 * the batch at the next step, its prompt is prefilled in chunks between decode steps of the
 * others, and its tokens come back as events on a ticket that the caller (an HTTP connection)
 * reads at its own pace. A prompt that extends one the engine has seen resumes from a stored
 * state (in memory, then the on-disk kv store), so it pays only for its new tokens.
 *
 * The engine knows token ids only: chat encoding, detokenising, stop strings and API formats
 * belong to the callers (serve/). Thread safety: submit, next, cancel, release and metrics may be
 * called from any thread. */
#ifndef CN_SERVE_ENGINE_H
#define CN_SERVE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kv/state.h"
#include "kv/store.h"
#include "model/model.h"
#include "sample/constraint.h"
#include "sample/sampler.h"

#define CN_ENGINE_MAX_TOP_LOGPROBS 20

typedef struct {
    int parallel;             /* sequences decoded together, >= 1 */
    int queue_limit;          /* requests waiting for a slot; more are refused with CN_ERR_BUSY (at
                                 most parallel + queue_limit requests are in flight at once) */
    int64_t ctx;              /* positions per sequence (prompt + output); 0: no limit but memory */
    int64_t prefill_chunk;    /* prompt tokens per sequence per step (0: 256), so a long prompt
                                 does not stall the sequences that are decoding */
    cn_kv_options kv;         /* row storage of every sequence state */
    size_t cache_bytes;       /* in-memory prefix cache budget (0: none; serve/prefix_cache.h) */
    const char *kv_dir;       /* persistent prefix store (kv/store.h), NULL for none: states saved at
                                 request ends, restored on admission when memory has no prefix */
    size_t kv_dir_bytes;      /* its size budget (0: 8 GiB) */
    const char *model_identity; /* names the weights for the store's fingerprint (path, sizes);
                                   required with kv_dir */
    /* Tests only: the store's fault hook (kv/store.h), called on the store thread. */
    cn_kv_store_fault (*store_fault)(void *ctx, cn_kv_store_step step, const char *file);
    void *store_fault_ctx;
} cn_engine_options;

typedef struct {
    const int32_t *prompt;    /* copied by submit; n_prompt >= 1 */
    size_t n_prompt;
    cn_sampler_params sampling;
    int64_t max_tokens;       /* >= 1 */
    const int32_t *stop_ids;  /* generation ends when one of these is sampled (EOS); copied */
    size_t n_stop_ids;
    bool logprobs;            /* report each token's log-probability */
    int top_logprobs;         /* and that many alternatives, 0..CN_ENGINE_MAX_TOP_LOGPROBS */
    cn_token_constraint constraint; /* ops NULL: none. Owned by the engine from submit on, also
                                       when submit fails; destroyed before DONE is delivered. Its
                                       mask and accept run on the engine thread, accept also for
                                       a stop id it allowed. */
} cn_engine_request;

typedef enum {
    CN_ENGINE_TOKEN, /* one generated token */
    CN_ENGINE_DONE,  /* the last event of a ticket */
} cn_engine_event_kind;

typedef enum {
    CN_FINISH_STOP_TOKEN, /* a stop id was sampled (it is in stop_token, not sent as a TOKEN) */
    CN_FINISH_LENGTH,     /* max_tokens generated */
    CN_FINISH_CONTEXT,    /* the sequence reached the ctx limit */
    CN_FINISH_CANCELLED,  /* cn_engine_ticket_cancel or release */
    CN_FINISH_ERROR,      /* error holds why (a constraint at a dead end, out of memory, ...) */
} cn_finish_reason;

typedef struct {
    int32_t id;
    float logprob;
} cn_token_logprob;

typedef struct {
    cn_engine_event_kind kind;
    /* CN_ENGINE_TOKEN */
    int32_t token;
    float logprob;            /* when the request asked for logprobs or top_logprobs: log-softmax of the
                                 raw logits (the model's distribution, before the constraint's mask,
                                 temperature and top-k/top-p), computed in double, stored as float */
    int n_top;                /* top_logprobs ids, most likely first, lower id first on ties */
    cn_token_logprob top[CN_ENGINE_MAX_TOP_LOGPROBS];
    /* CN_ENGINE_DONE */
    cn_finish_reason finish;
    int32_t stop_token;       /* CN_FINISH_STOP_TOKEN */
    int64_t prompt_tokens;
    int64_t cached_tokens;    /* of the prompt, resumed from a stored state instead of fed */
    int64_t generated_tokens; /* ids sampled: the TOKEN events plus a stop id */
    double queue_seconds;     /* submit to admission (to the end when never admitted) */
    double prefill_seconds;   /* admission to the first sampled id */
    double decode_seconds;    /* first sampled id to the end */
    cn_error error;           /* CN_FINISH_ERROR */
} cn_engine_event;

typedef struct {
    uint64_t requests_total;     /* accepted by submit */
    uint64_t requests_rejected;  /* refused with CN_ERR_BUSY (queue full); CN_ERR_ARG ones are not counted */
    uint64_t requests_cancelled, requests_failed;
    uint64_t prompt_tokens_total, cached_tokens_total, generated_tokens_total;
    uint64_t prefix_hits_memory, prefix_hits_disk, prefix_misses;
    int active, queued;
    size_t kv_bytes;          /* held by active sequences */
    size_t cache_bytes;       /* held by the in-memory prefix cache */
    uint64_t store_saves, store_save_failures; /* kv_dir: states saved at request ends, saves that failed */
    size_t store_bytes;       /* kv_dir: on disk */
    double decode_tokens_per_second; /* ids sampled in the steps of the last 5 s, all sequences together,
                                        over the time since the first of those steps began */
} cn_engine_metrics;

typedef struct cn_engine cn_engine;
typedef struct cn_engine_ticket cn_engine_ticket;

/* Starts the engine thread. The model must outlive the engine and is used by it alone. */
cn_status cn_engine_start(cn_model *model, const cn_engine_options *options, cn_engine **out, cn_error *err);
/* Cancels everything in flight (each ticket gets its DONE), runs the saves still queued, joins the
 * threads, frees the engine; tickets still held must be released after. */
void cn_engine_stop(cn_engine *engine);

/* Queues a request. CN_ERR_BUSY when the queue is full or the engine is stopping; CN_ERR_ARG for
 * a request that can never run (empty prompt, a token outside the vocabulary, a prompt that
 * leaves no room for output in ctx, max_tokens < 1, top_logprobs out of range, bad sampling). */
cn_status cn_engine_submit(cn_engine *engine, const cn_engine_request *request, cn_engine_ticket **out,
                           cn_error *err);
/* Waits up to timeout_ms (< 0: forever, 0: just looks) for the ticket's next event; false on
 * timeout. Events come in order, DONE last; once DONE has been returned, returns DONE again. */
bool cn_engine_ticket_next(cn_engine_ticket *ticket, cn_engine_event *event, int timeout_ms);
/* Asks the engine to stop the request at its next step (a client went away, a stop string was
 * seen); a DONE with CN_FINISH_CANCELLED follows unless the request had already finished. */
void cn_engine_ticket_cancel(cn_engine_ticket *ticket);
/* The caller is done with the ticket: cancels it if it is still running; freed when the engine
 * lets go of it too. */
void cn_engine_ticket_release(cn_engine_ticket *ticket);

void cn_engine_metrics_get(cn_engine *engine, cn_engine_metrics *out);

/* kv_dir: blocks until every save queued so far is durable. Saves run on the engine's store thread
 * (serve/store_worker.h), queued when a request ends, before its DONE: a caller that has seen DONE
 * and then calls this finds the request's state on disk. cn_engine_stop runs every queued save
 * before it returns. Without kv_dir, returns at once. */
void cn_engine_wait_store(cn_engine *engine);

#endif
