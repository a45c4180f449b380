/* The serving engine (serve/engine.h; docs/serving-engine.md): one thread owns the model and runs
 * steps. Each step admits queued requests into free slots (resuming from the prefix cache), then
 * makes ONE cn_model_forward_batch call holding every decoding sequence's last token and up to
 * prefill_chunk prompt tokens of every prefilling sequence, then samples for each sequence that
 * has logits. A sequence's tokens depend only on its own prompt, sampler seed and constraint:
 * the batch contract (model/model.h) makes each item's logits bitwise those of a lone forward. */
#include "serve/engine.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kv/store.h"
#include "sample/logit_stats.h"
#include "serve/prefix_cache.h"
#include "serve/store_worker.h"
#include "serve/ticket.h"

#define DEFAULT_PREFILL_CHUNK 256
/* decode_tokens_per_second counts the steps of the last few seconds. */
#define RATE_WINDOW_SECONDS 5.0
#define RATE_STEPS 512

typedef enum {
    SEQ_PREFILL, /* prompt ids still to feed */
    SEQ_DECODE,  /* the last sampled id is fed next */
    SEQ_SAMPLE,  /* logits ready without a step: the whole prompt was in the prefix cache */
    SEQ_RESTORE, /* the store thread is restoring its state from disk: not stepped, not touched */
} seq_phase;

typedef struct {
    cn_engine_ticket *ticket;
    int32_t *ids; /* the prompt, then every generated id but a stop id */
    size_t n_prompt, n_ids, cap_ids;
    int32_t *stop_ids;
    size_t n_stop;
    cn_sampler sampler;
    int64_t max_tokens;
    bool logprobs;
    int top_logprobs;
    cn_token_constraint constraint;
    cn_kv_state state; /* holds ids[0..state.n_tokens) */
    bool has_state;
    float *logits;       /* [V] raw logits of position state.n_tokens-1 when logits_current */
    bool logits_current;
    float *masked;       /* [V] constrained copy of logits (with a constraint only) */
    seq_phase phase;
    int64_t cached, generated;
    double t_submit, t_admit, t_first; /* t_first: when the first id was sampled (0: not yet) */
} sequence;

/* A job for the store thread (serve/store_worker.h). A save owns what it saves: the state moved
 * out of the finished sequence, its ids and logits; while the save runs the state is also a
 * prefix the engine thread may copy from (both only read it), and once the save is done the state
 * moves on into the memory cache. A restore writes into its sequence's state. */
typedef struct store_job {
    serve_store_job job;            /* first: the store thread hands this back */
    struct store_job *next;         /* engine->completed, under mu */
    struct store_job *next_pending; /* engine->pending_saves, engine thread */
    sequence *seq;                  /* RESTORE */
    int32_t *ids;                   /* SAVE: owned copies */
    size_t n;
    cn_kv_state state;
    float *logits;                  /* SAVE: of position n-1, NULL when not current */
} store_job;

struct cn_engine {
    cn_model *model;
    int parallel, queue_limit;
    int64_t ctx, prefill_chunk, vocab;
    cn_kv_options kv;

    pthread_t thread;
    pthread_mutex_t mu; /* guards everything below up to the engine-thread-only part */
    pthread_cond_t cv;  /* work arrived, or stop */
    bool stopping;
    sequence **queue;   /* ring of parallel + queue_limit slots */
    size_t q_head, q_count, q_cap;
    int n_active;       /* written by the engine thread under mu; read by submit and metrics */
    int n_admitting;    /* taken off the queue, not yet in active[]: still in flight for submit */
    store_job *completed; /* store jobs done by the store thread, for the engine thread to take back */
    cn_engine_metrics metrics;
    double rate_start[RATE_STEPS], rate_end[RATE_STEPS];
    int rate_tokens[RATE_STEPS];
    size_t rate_next, rate_count;

    /* Used by the engine thread alone (and by stop after it joined). */
    sequence **active;  /* [parallel], in admission order */
    cn_prefix_cache *cache;
    cn_kv_store *store;  /* kv_dir: used by the store thread alone (serve/store_worker.h) */
    serve_store_worker *store_worker;
    store_job *pending_saves; /* saves submitted and not yet taken back */
    int n_pending_saves;
    int n_restoring;          /* active sequences in SEQ_RESTORE */
    cn_forward_item *items;
    sequence **item_seq;
};

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sequence_free(sequence *s) {
    if (!s) return;
    free(s->ids);
    free(s->stop_ids);
    cn_sampler_free(&s->sampler);
    cn_constraint_destroy(&s->constraint);
    if (s->has_state) cn_kv_state_free(&s->state);
    free(s->logits);
    free(s->masked);
    free(s);
}

/* ---- finishing a request ------------------------------------------------------------------ */

/* Saves waiting for the store thread at most, per decoding slot: each holds a whole state, so a disk
 * slower than the requests end must not let them pile up; past this a state is not saved. */
#define MAX_PENDING_SAVES_PER_SLOT 2

/* Hands a finished sequence's state to the store thread for saving (moved, with its ids and, when
 * current, its logits); false when too many saves wait already or there is no memory for the job
 * (the state stays). */
static bool queue_save(cn_engine *e, sequence *s) {
    if (e->n_pending_saves >= MAX_PENDING_SAVES_PER_SLOT * e->parallel + 1) return false;
    store_job *job = calloc(1, sizeof *job);
    const size_t n = (size_t)s->state.n_tokens;
    if (job) job->ids = malloc(n * sizeof *job->ids);
    if (!job || !job->ids) {
        free(job);
        return false;
    }
    memcpy(job->ids, s->ids, n * sizeof *job->ids);
    job->n = n;
    job->state = s->state;
    memset(&s->state, 0, sizeof s->state);
    s->has_state = false;
    if (e->cache && s->logits_current) { /* the memory cache takes the state once it is saved */
        job->logits = s->logits;
        s->logits = NULL;
    }
    job->job = (serve_store_job){.op = SERVE_STORE_SAVE, .ids = job->ids, .n = n, .state = &job->state};
    job->next_pending = e->pending_saves;
    e->pending_saves = job;
    e->n_pending_saves++;
    serve_store_worker_submit(e->store_worker, &job->job);
    return true;
}

/* Frees the sequence, sends DONE and lets go of the ticket. A request that ends with its state
 * consistent leaves it in the persistent store (queued for the store thread before DONE, durable
 * soon after; cn_engine_wait_store waits for it) and, when its logits are current, in the prefix
 * cache (moved, not copied; with a store, once saved), so a follow-up that extends prompt+output
 * resumes from it; the last sampled id is not in the state (it was never fed), as in
 * cli/generate.h. After an error the state is not trusted and not kept. */
static void finish(cn_engine *e, sequence *s, cn_finish_reason reason, int32_t stop_token, const cn_error *why) {
    if (e->store_worker && reason != CN_FINISH_ERROR && s->has_state && s->state.n_tokens > 0 && !queue_save(e, s)) {
        pthread_mutex_lock(&e->mu); /* too many saves waiting, or no memory: only a future hit is lost */
        e->metrics.store_save_failures++;
        pthread_mutex_unlock(&e->mu);
    }
    const double t_end = now_seconds();
    if (e->cache && reason != CN_FINISH_ERROR && s->has_state && s->logits_current && s->state.n_tokens > 0) {
        cn_error ignored = {0}; /* a cache that cannot take the state only loses a future hit */
        cn_prefix_cache_store_take(e->cache, s->ids, (size_t)s->state.n_tokens, &s->state, s->logits, &ignored);
        s->has_state = false;
    }
    cn_engine_event done = {.kind = CN_ENGINE_DONE, .finish = reason, .stop_token = stop_token};
    done.prompt_tokens = (int64_t)s->n_prompt;
    done.cached_tokens = s->cached;
    done.generated_tokens = s->generated;
    if (s->t_admit == 0) {
        done.queue_seconds = t_end - s->t_submit;
    } else {
        done.queue_seconds = s->t_admit - s->t_submit;
        done.prefill_seconds = (s->t_first ? s->t_first : t_end) - s->t_admit;
        done.decode_seconds = s->t_first ? t_end - s->t_first : 0.0;
    }
    if (reason == CN_FINISH_ERROR && why) done.error = *why;
    pthread_mutex_lock(&e->mu);
    if (reason == CN_FINISH_CANCELLED) e->metrics.requests_cancelled++;
    if (reason == CN_FINISH_ERROR) e->metrics.requests_failed++;
    pthread_mutex_unlock(&e->mu);
    /* Everything the request owned (its constraint too) is gone by the time DONE is seen. */
    cn_engine_ticket *ticket = s->ticket;
    sequence_free(s);
    cn_ticket_finish(ticket, &done);
    cn_ticket_drop(ticket);
}

static void finish_error(cn_engine *e, sequence *s, const char *what, const cn_error *err) {
    cn_error why = *err;
    cn_error_prefix(&why, "%s", what);
    finish(e, s, CN_FINISH_ERROR, -1, &why);
}

/* Removes active[i], keeping admission order, and returns it for the caller to finish. */
static sequence *take_active(cn_engine *e, int i) {
    sequence *s = e->active[i];
    pthread_mutex_lock(&e->mu);
    memmove(&e->active[i], &e->active[i + 1], (size_t)(e->n_active - i - 1) * sizeof *e->active);
    e->n_active--;
    pthread_mutex_unlock(&e->mu);
    return s;
}

/* ---- admission ---------------------------------------------------------------------------- */

/* Where an admitted sequence resumes from. */
typedef enum { FROM_NOTHING, FROM_MEMORY, FROM_STORE } resume_source;

/* The longest state being saved whose ids are a prefix of the prompt and that can be resumed from
 * (shorter than the prompt, or as long with its logits), or NULL. */
static const store_job *pending_longest(const cn_engine *e, const sequence *s) {
    const store_job *best = NULL;
    for (const store_job *p = e->pending_saves; p; p = p->next_pending)
        if ((!best || p->n > best->n) && (p->n < s->n_prompt || (p->n == s->n_prompt && p->logits)) &&
            memcmp(p->ids, s->ids, p->n * sizeof *s->ids) == 0)
            best = p;
    return best;
}

/* Starts restoring s from the store on the store thread; false when there is no memory for it. */
static bool queue_restore(cn_engine *e, sequence *s) {
    store_job *job = calloc(1, sizeof *job);
    if (!job) return false;
    job->seq = s;
    job->job = (serve_store_job){.op = SERVE_STORE_RESTORE, .ids = s->ids, .n = s->n_prompt - 1, .state = &s->state};
    serve_store_worker_submit(e->store_worker, &job->job);
    return true;
}

/* Gives an admitted sequence its state: a copy of the longest prefix in memory (the prefix cache
 * or a state still being saved), else, on the store thread, the longest prefix in the persistent
 * store (FROM_STORE: the sequence waits in SEQ_RESTORE), else an empty state. At least one prompt
 * id is fed unless a memory entry covers the whole prompt, in which case its stored logits are
 * sampled from directly (prefix_cache.h); the store keeps no logits, so it is asked for
 * n_prompt - 1 ids at most (kv/store.h). */
static cn_status resume(cn_engine *e, sequence *s, size_t *matched, resume_source *from, cn_error *err) {
    *matched = 0;
    *from = FROM_NOTHING;
    cn_error ignored = {0}; /* a copy or a read that failed is a miss, not an error */
    if (e->cache &&
        (cn_prefix_cache_restore_longest(e->cache, s->ids, s->n_prompt, &s->state, s->logits, matched, &ignored) != CN_OK ||
         *matched == 0))
        *matched = 0;
    const store_job *p = pending_longest(e, s);
    if (p && p->n > *matched) {
        if (*matched) cn_kv_state_free(&s->state);
        *matched = 0;
        if (cn_kv_state_copy(&s->state, &p->state, &ignored) == CN_OK) {
            if (p->n == s->n_prompt) memcpy(s->logits, p->logits, (size_t)e->vocab * sizeof *s->logits);
            *matched = p->n;
        }
    }
    if (*matched > 0) {
        *from = FROM_MEMORY;
        return CN_OK;
    }
    cn_status st = cn_model_state_init_opts(e->model, &s->state, &e->kv, err);
    if (st) return st;
    if (e->store_worker && s->n_prompt > 1 && queue_restore(e, s)) *from = FROM_STORE;
    return CN_OK;
}

static void admit(cn_engine *e, sequence *s) {
    cn_error err = {0};
    s->t_admit = now_seconds();
    size_t matched = 0;
    resume_source from = FROM_NOTHING;
    const cn_status st = resume(e, s, &matched, &from, &err);
    pthread_mutex_lock(&e->mu);
    e->n_admitting--;
    if (from == FROM_MEMORY) e->metrics.prefix_hits_memory++;
    else if (from == FROM_NOTHING) e->metrics.prefix_misses++; /* a restore counts when it is done */
    e->metrics.prompt_tokens_total += s->n_prompt;
    e->metrics.cached_tokens_total += matched;
    if (st == CN_OK) e->active[e->n_active++] = s;
    pthread_mutex_unlock(&e->mu);
    if (st) {
        finish_error(e, s, "creating the sequence state", &err);
        return;
    }
    s->has_state = true;
    s->cached = (int64_t)matched;
    s->logits_current = from == FROM_MEMORY; /* the store's states come without logits */
    s->phase = matched == s->n_prompt ? SEQ_SAMPLE : SEQ_PREFILL;
    if (from == FROM_STORE) {
        s->phase = SEQ_RESTORE;
        e->n_restoring++;
    }
}

/* ---- the store thread's results ------------------------------------------------------------- */

/* On the store thread: counts the result and hands the job back to the engine thread. */
static void store_job_done(void *context, serve_store_job *done) {
    cn_engine *e = context;
    store_job *job = (store_job *)done;
    pthread_mutex_lock(&e->mu);
    if (done->op == SERVE_STORE_SAVE) {
        if (done->status == CN_OK) e->metrics.store_saves++;
        else e->metrics.store_save_failures++; /* a store that cannot write only loses a future hit */
    } else if (done->matched > 0) {
        e->metrics.prefix_hits_disk++;
        e->metrics.cached_tokens_total += done->matched;
    } else {
        e->metrics.prefix_misses++;
    }
    e->metrics.store_bytes = done->stats.bytes;
    job->next = e->completed;
    e->completed = job;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* On the engine thread: a saved state moves on into the memory cache (when it came with logits),
 * a restored sequence joins the batch. */
static void take_back_store_jobs(cn_engine *e) {
    pthread_mutex_lock(&e->mu);
    store_job *list = e->completed;
    e->completed = NULL;
    pthread_mutex_unlock(&e->mu);
    while (list) {
        store_job *job = list;
        list = job->next;
        if (job->job.op == SERVE_STORE_RESTORE) {
            sequence *s = job->seq;
            s->cached = (int64_t)job->job.matched;
            s->phase = SEQ_PREFILL;
            e->n_restoring--;
            free(job);
            continue;
        }
        for (store_job **p = &e->pending_saves; *p; p = &(*p)->next_pending)
            if (*p == job) {
                *p = job->next_pending;
                e->n_pending_saves--;
                break;
            }
        cn_error ignored = {0};
        if (e->cache && job->logits) cn_prefix_cache_store_take(e->cache, job->ids, job->n, &job->state, job->logits, &ignored);
        if (job->state.layers) cn_kv_state_free(&job->state);
        free(job->ids);
        free(job->logits);
        free(job);
    }
}

/* ---- sampling ----------------------------------------------------------------------------- */

static bool is_stop_id(const sequence *s, int32_t id) {
    for (size_t i = 0; i < s->n_stop; i++)
        if (s->stop_ids[i] == id) return true;
    return false;
}

/* The top_logprobs most likely ids under the raw logits, most likely first, lower id first on
 * ties (a partial selection: n is at most CN_ENGINE_MAX_TOP_LOGPROBS). */
static void top_ids(const float *logits, int64_t V, int n, double lse, cn_token_logprob *top) {
    int32_t best[CN_ENGINE_MAX_TOP_LOGPROBS];
    int have = 0;
    for (int64_t v = 0; v < V; v++) {
        int at = have;
        while (at > 0 && logits[best[at - 1]] < logits[v]) at--; /* strict: an equal logit keeps the lower id first */
        if (at >= n) continue;
        if (have < n) have++;
        memmove(&best[at + 1], &best[at], (size_t)(have - 1 - at) * sizeof *best);
        best[at] = (int32_t)v;
    }
    for (int i = 0; i < have; i++) top[i] = (cn_token_logprob){best[i], (float)((double)logits[best[i]] - lse)};
}

static bool append_id(sequence *s, int32_t id) {
    if (s->n_ids == s->cap_ids) {
        const size_t cap = 2 * s->cap_ids;
        int32_t *grown = realloc(s->ids, cap * sizeof *grown);
        if (!grown) return false;
        s->ids = grown;
        s->cap_ids = cap;
    }
    s->ids[s->n_ids++] = id;
    return true;
}

/* How a sampling ended a request (finished false: it goes on). */
typedef struct {
    bool finished;
    cn_finish_reason reason;
    int32_t stop_token;
    cn_error error;
} verdict;

static verdict ends(cn_finish_reason reason, int32_t stop_token) {
    return (verdict){.finished = true, .reason = reason, .stop_token = stop_token};
}

static verdict fails(const char *what, const cn_error *err) {
    verdict v = ends(CN_FINISH_ERROR, -1);
    v.error = *err;
    cn_error_prefix(&v.error, "%s", what);
    return v;
}

/* Samples the next id from s->logits and reports it as a TOKEN event, or says how the request
 * ends. Log-probabilities are those of the model's own distribution: the log-softmax of the raw
 * logits, before the constraint's mask, temperature and top-k/top-p. */
static verdict sample_next(cn_engine *e, sequence *s, int *generated_now) {
    const int64_t V = e->vocab;
    cn_error err = {0};
    const float *dist = s->logits;
    if (s->constraint.ops) {
        memcpy(s->masked, s->logits, (size_t)V * sizeof *s->masked);
        if (cn_constraint_mask(&s->constraint, s->masked, V, &err) != CN_OK) return fails("constraint", &err);
        dist = s->masked;
    }
    const int32_t id = cn_sampler_next(&s->sampler, dist, V);
    if (id < 0 || id >= V || dist[id] == -INFINITY) { /* a mask that left nothing without saying so */
        cn_fail(&err, CN_ERR_ARG, "no token is allowed at output position %lld", (long long)s->generated);
        return fails("constraint", &err);
    }
    if (s->constraint.ops && cn_constraint_accept(&s->constraint, id, &err) != CN_OK) return fails("constraint", &err);
    if (!s->t_first) s->t_first = now_seconds();
    s->generated++;
    (*generated_now)++;
    pthread_mutex_lock(&e->mu);
    e->metrics.generated_tokens_total++;
    pthread_mutex_unlock(&e->mu);
    if (is_stop_id(s, id)) return ends(CN_FINISH_STOP_TOKEN, id);
    cn_engine_event ev = {.kind = CN_ENGINE_TOKEN, .token = id};
    if (s->logprobs || s->top_logprobs > 0) {
        const double lse = cn_logsumexp(s->logits, V);
        ev.logprob = (float)((double)s->logits[id] - lse);
        ev.n_top = s->top_logprobs < V ? s->top_logprobs : (int)V;
        top_ids(s->logits, V, ev.n_top, lse, ev.top);
    }
    if (!append_id(s, id) || !cn_ticket_push_token(s->ticket, &ev)) {
        cn_fail(&err, CN_ERR_NOMEM, "out of memory after %lld tokens", (long long)s->generated);
        return fails("queueing a token", &err);
    }
    if (s->generated == s->max_tokens) return ends(CN_FINISH_LENGTH, -1);
    if (e->ctx > 0 && (int64_t)s->n_ids >= e->ctx) return ends(CN_FINISH_CONTEXT, -1); /* next would need position ctx */
    s->phase = SEQ_DECODE;
    s->logits_current = false; /* until the id just sampled has been fed */
    return (verdict){.finished = false};
}

/* ---- one step ----------------------------------------------------------------------------- */

static void record_rate(cn_engine *e, double start, double end, int tokens) {
    pthread_mutex_lock(&e->mu);
    e->rate_start[e->rate_next] = start;
    e->rate_end[e->rate_next] = end;
    e->rate_tokens[e->rate_next] = tokens;
    e->rate_next = (e->rate_next + 1) % RATE_STEPS;
    if (e->rate_count < RATE_STEPS) e->rate_count++;
    size_t kv = 0;
    for (int i = 0; i < e->n_active; i++) /* a state being restored is the store thread's until done */
        if (e->active[i]->phase != SEQ_RESTORE) kv += cn_kv_state_bytes(&e->active[i]->state);
    e->metrics.kv_bytes = kv;
    e->metrics.cache_bytes = cn_prefix_cache_bytes(e->cache);
    pthread_mutex_unlock(&e->mu);
}

static void step(cn_engine *e) {
    const double t0 = now_seconds();
    /* Cancelled sequences leave before any work is spent on them (one being restored once the
       store thread is done with its state). */
    for (int i = 0; i < e->n_active;) {
        if (e->active[i]->phase != SEQ_RESTORE && cn_ticket_cancel_requested(e->active[i]->ticket))
            finish(e, take_active(e, i), CN_FINISH_CANCELLED, -1, NULL);
        else i++;
    }
    /* One batch: every decoding sequence feeds its last id, every prefilling one its next chunk
     * (logits only when the chunk ends the prompt). */
    int n_items = 0;
    for (int i = 0; i < e->n_active; i++) {
        sequence *s = e->active[i];
        cn_forward_item *it = &e->items[n_items];
        if (s->phase == SEQ_PREFILL) {
            const int64_t fed = s->state.n_tokens, left = (int64_t)s->n_prompt - fed;
            const int64_t n = left < e->prefill_chunk ? left : e->prefill_chunk;
            *it = (cn_forward_item){&s->state, s->ids + fed, n, n == left ? s->logits : NULL};
        } else if (s->phase == SEQ_DECODE) {
            *it = (cn_forward_item){&s->state, &s->ids[s->n_ids - 1], 1, s->logits};
        } else {
            continue;
        }
        e->item_seq[n_items++] = s;
    }
    if (n_items > 0) {
        cn_error err = {0};
        if (cn_model_forward_batch(e->model, e->items, n_items, &err) != CN_OK) {
            /* Which states advanced is not known: every request of the batch fails. */
            for (int k = 0; k < n_items; k++)
                for (int i = 0; i < e->n_active; i++)
                    if (e->active[i] == e->item_seq[k]) {
                        finish_error(e, take_active(e, i), "forward", &err);
                        break;
                    }
        } else {
            for (int k = 0; k < n_items; k++) {
                sequence *s = e->item_seq[k];
                s->logits_current = e->items[k].last_logits != NULL;
                if (s->phase == SEQ_PREFILL && s->logits_current) {
                    s->phase = SEQ_SAMPLE;
                    if (e->cache) { /* the prompt's state, for the next request with the same prefix */
                        cn_error ignored = {0};
                        cn_prefix_cache_store(e->cache, s->ids, s->n_prompt, &s->state, s->logits, &ignored);
                    }
                }
            }
        }
    }
    int generated = 0;
    for (int i = 0; i < e->n_active;) {
        sequence *s = e->active[i];
        verdict v = {.finished = false};
        if ((s->phase == SEQ_SAMPLE || s->phase == SEQ_DECODE) && s->logits_current) v = sample_next(e, s, &generated);
        if (!v.finished) {
            i++;
            continue;
        }
        /* The slot is free before DONE is sent, so a caller that sees DONE sees the slot free. */
        finish(e, take_active(e, i), v.reason, v.stop_token, &v.error);
    }
    record_rate(e, t0, now_seconds(), generated);
}

/* ---- the engine thread -------------------------------------------------------------------- */

static void *engine_main(void *arg) {
    cn_engine *e = arg;
    sequence **admitted = malloc((size_t)e->parallel * sizeof *admitted);
    sequence **dropped = malloc(e->q_cap * sizeof *dropped);
    for (;;) {
        pthread_mutex_lock(&e->mu);
        /* Work: a request that can take a slot, a sequence to step (not waiting for a restore), or
           a store job to take back. */
        while (!e->stopping && !e->completed && !(e->q_count > 0 && e->n_active < e->parallel) &&
               e->n_active == e->n_restoring)
            pthread_cond_wait(&e->cv, &e->mu);
        if (e->stopping || !admitted || !dropped) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        const bool store_results = e->completed != NULL;
        /* FIFO admission into free slots; requests cancelled while waiting leave without a slot. */
        int n_admitted = 0;
        size_t n_dropped = 0;
        size_t kept = 0;
        for (size_t k = 0; k < e->q_count; k++) {
            sequence *s = e->queue[(e->q_head + k) % e->q_cap];
            if (cn_ticket_cancel_requested(s->ticket)) dropped[n_dropped++] = s;
            else if (e->n_active + n_admitted < e->parallel) admitted[n_admitted++] = s;
            else e->queue[(e->q_head + kept++) % e->q_cap] = s;
        }
        e->q_count = kept;
        e->n_admitting = n_admitted; /* so submit's capacity check stays exact meanwhile */
        pthread_mutex_unlock(&e->mu);
        if (store_results) take_back_store_jobs(e);
        for (size_t k = 0; k < n_dropped; k++) finish(e, dropped[k], CN_FINISH_CANCELLED, -1, NULL);
        for (int k = 0; k < n_admitted; k++) admit(e, admitted[k]);
        step(e);
    }
    free(admitted);
    free(dropped);
    return NULL;
}

/* ---- the public interface ----------------------------------------------------------------- */

static void engine_free(cn_engine *e) {
    free(e->queue);
    free(e->active);
    free(e->items);
    free(e->item_seq);
    cn_prefix_cache_free(e->cache);
    cn_kv_store_close(e->store);
    free(e);
}

cn_status cn_engine_start(cn_model *model, const cn_engine_options *o, cn_engine **out, cn_error *err) {
    *out = NULL;
    if (!model || !o) return cn_fail(err, CN_ERR_ARG, "engine: no model or no options");
    if (o->parallel < 1) return cn_fail(err, CN_ERR_ARG, "engine: parallel must be >= 1 (got %d)", o->parallel);
    if (o->queue_limit < 0) return cn_fail(err, CN_ERR_ARG, "engine: queue_limit must be >= 0 (got %d)", o->queue_limit);
    if (o->ctx < 0) return cn_fail(err, CN_ERR_ARG, "engine: ctx must be >= 0 (got %lld)", (long long)o->ctx);
    if (o->prefill_chunk < 0)
        return cn_fail(err, CN_ERR_ARG, "engine: prefill_chunk must be >= 0 (got %lld)", (long long)o->prefill_chunk);
    if (o->kv_dir && (!o->model_identity || !o->model_identity[0]))
        return cn_fail(err, CN_ERR_ARG, "engine: kv_dir %s needs a model_identity naming the weights", o->kv_dir);
    /* The row encodings are checked once here, not at every admission. */
    cn_kv_state probe;
    cn_status s = cn_model_state_init_opts(model, &probe, &o->kv, err);
    if (s) return cn_error_prefix(err, "engine: sequence state");

    cn_engine *e = calloc(1, sizeof *e);
    if (!e) {
        cn_kv_state_free(&probe);
        return cn_fail(err, CN_ERR_NOMEM, "engine: out of memory");
    }
    /* The store's fingerprint includes the state layout and encodings: `probe` is that layout. */
    cn_kv_store_options so = {.budget_bytes = o->kv_dir_bytes, .fault = o->store_fault, .fault_ctx = o->store_fault_ctx};
    if (o->kv_dir) s = cn_kv_store_open_opts(o->kv_dir, o->model_identity, &probe, &so, &e->store, err);
    cn_kv_state_free(&probe);
    if (s) {
        free(e);
        return cn_error_prefix(err, "engine: kv_dir %s", o->kv_dir);
    }
    e->model = model;
    e->parallel = o->parallel;
    e->queue_limit = o->queue_limit;
    e->ctx = o->ctx;
    e->prefill_chunk = o->prefill_chunk > 0 ? o->prefill_chunk : DEFAULT_PREFILL_CHUNK;
    e->vocab = model->cfg->vocab_size;
    e->kv = o->kv;
    e->q_cap = (size_t)o->parallel + (size_t)o->queue_limit;
    e->queue = calloc(e->q_cap, sizeof *e->queue);
    e->active = calloc((size_t)o->parallel, sizeof *e->active);
    e->items = calloc((size_t)o->parallel, sizeof *e->items);
    e->item_seq = calloc((size_t)o->parallel, sizeof *e->item_seq);
    if (!e->queue || !e->active || !e->items || !e->item_seq) {
        engine_free(e);
        return cn_fail(err, CN_ERR_NOMEM, "engine: out of memory for %d slots", o->parallel);
    }
    if (o->cache_bytes > 0 && (s = cn_prefix_cache_create(o->cache_bytes, e->vocab, &e->cache, err)) != CN_OK) {
        engine_free(e);
        return s;
    }
    if (pthread_mutex_init(&e->mu, NULL) != 0) {
        engine_free(e);
        return cn_fail(err, CN_ERR_NOMEM, "engine: cannot create a mutex");
    }
    if (pthread_cond_init(&e->cv, NULL) != 0) {
        pthread_mutex_destroy(&e->mu);
        engine_free(e);
        return cn_fail(err, CN_ERR_NOMEM, "engine: cannot create a condition variable");
    }
    /* The store thread reports to the engine's mutex and condition variable: started after them. */
    if (e->store && (s = serve_store_worker_start(e->store, store_job_done, e, &e->store_worker, err)) != CN_OK) {
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
        engine_free(e);
        return cn_error_prefix(err, "engine: kv_dir %s", o->kv_dir);
    }
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        serve_store_worker_stop(e->store_worker); /* idle: nothing was submitted */
        e->store_worker = NULL;
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
        engine_free(e);
        return cn_fail(err, CN_ERR_NOMEM, "engine: cannot start its thread");
    }
    *out = e;
    return CN_OK;
}

void cn_engine_stop(cn_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL); /* it finishes the step under way first */
    /* Alone now (but for the store thread): restores under way end first, then every request still
       in flight gets its DONE, and its save runs before the store thread stops. */
    if (e->store_worker) {
        serve_store_worker_wait_idle(e->store_worker);
        take_back_store_jobs(e);
    }
    while (e->n_active > 0) finish(e, take_active(e, 0), CN_FINISH_CANCELLED, -1, NULL);
    for (size_t k = 0; k < e->q_count; k++) finish(e, e->queue[(e->q_head + k) % e->q_cap], CN_FINISH_CANCELLED, -1, NULL);
    e->q_count = 0;
    if (e->store_worker) {
        serve_store_worker_stop(e->store_worker);
        e->store_worker = NULL;
        take_back_store_jobs(e);
    }
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    engine_free(e);
}

/* The request's own parts, checked and copied; the constraint moves in. */
static cn_status make_sequence(const cn_engine *e, const cn_engine_request *r, sequence **out, cn_error *err) {
    *out = NULL;
    if (!r->prompt || r->n_prompt == 0) return cn_fail(err, CN_ERR_ARG, "the prompt is empty");
    for (size_t i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= e->vocab)
            return cn_fail(err, CN_ERR_ARG, "prompt token %d at index %zu is outside the vocabulary (0..%lld)",
                           r->prompt[i], i, (long long)e->vocab - 1);
    if (e->ctx > 0 && (int64_t)r->n_prompt >= e->ctx)
        return cn_fail(err, CN_ERR_ARG, "the prompt has %zu tokens: no room for output in a context of %lld", r->n_prompt,
                       (long long)e->ctx);
    if (r->max_tokens < 1) return cn_fail(err, CN_ERR_ARG, "max_tokens must be >= 1 (got %lld)", (long long)r->max_tokens);
    if (r->top_logprobs < 0 || r->top_logprobs > CN_ENGINE_MAX_TOP_LOGPROBS)
        return cn_fail(err, CN_ERR_ARG, "top_logprobs must be in 0..%d (got %d)", CN_ENGINE_MAX_TOP_LOGPROBS,
                       r->top_logprobs);
    if (r->n_stop_ids > 0 && !r->stop_ids) return cn_fail(err, CN_ERR_ARG, "stop ids missing");
    if (r->constraint.ops &&
        (!r->constraint.ops->mask || !r->constraint.ops->accept || !r->constraint.ops->destroy))
        return cn_fail(err, CN_ERR_ARG, "the constraint lacks an operation");
    sequence *s = calloc(1, sizeof *s);
    if (!s) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cn_status st = cn_sampler_init(&s->sampler, &r->sampling, err);
    if (st) {
        free(s);
        return st;
    }
    s->n_prompt = s->n_ids = r->n_prompt;
    s->cap_ids = r->n_prompt + 16;
    s->ids = malloc(s->cap_ids * sizeof *s->ids);
    s->n_stop = r->n_stop_ids;
    s->stop_ids = malloc((r->n_stop_ids ? r->n_stop_ids : 1) * sizeof *s->stop_ids);
    s->logits = malloc((size_t)e->vocab * sizeof *s->logits);
    if (r->constraint.ops) s->masked = malloc((size_t)e->vocab * sizeof *s->masked);
    if (!s->ids || !s->stop_ids || !s->logits || (r->constraint.ops && !s->masked)) {
        sequence_free(s);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory for a %zu-token prompt", r->n_prompt);
    }
    memcpy(s->ids, r->prompt, r->n_prompt * sizeof *s->ids);
    if (r->n_stop_ids) memcpy(s->stop_ids, r->stop_ids, r->n_stop_ids * sizeof *s->stop_ids);
    s->max_tokens = r->max_tokens;
    s->logprobs = r->logprobs;
    s->top_logprobs = r->top_logprobs;
    *out = s;
    return CN_OK;
}

cn_status cn_engine_submit(cn_engine *e, const cn_engine_request *r, cn_engine_ticket **out, cn_error *err) {
    *out = NULL;
    cn_token_constraint constraint = r->constraint; /* ours from here on, whatever happens */
    sequence *s = NULL;
    cn_status st = make_sequence(e, r, &s, err);
    if (st) {
        cn_constraint_destroy(&constraint);
        return st;
    }
    s->constraint = constraint;
    if (!(s->ticket = cn_ticket_create())) {
        sequence_free(s);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory for a ticket");
    }
    s->t_submit = now_seconds();
    pthread_mutex_lock(&e->mu);
    const size_t in_flight = (size_t)e->n_active + (size_t)e->n_admitting + e->q_count;
    if (e->stopping || in_flight >= e->q_cap) {
        const bool stopping = e->stopping;
        if (!stopping) e->metrics.requests_rejected++;
        pthread_mutex_unlock(&e->mu);
        cn_ticket_drop(s->ticket); /* both references: the caller never saw it */
        cn_ticket_drop(s->ticket);
        s->ticket = NULL;
        sequence_free(s);
        if (stopping) return cn_fail(err, CN_ERR_BUSY, "the engine is stopping");
        return cn_fail(err, CN_ERR_BUSY, "busy: %zu requests in flight (%d decoding at once, %d waiting at most)",
                       in_flight, e->parallel, e->queue_limit);
    }
    /* Once s is queued and the lock released, the engine may run it to its end and free it at
     * once (a short request on an idle engine): the caller's reference to the ticket is taken
     * from s before that, never after. */
    *out = s->ticket;
    e->queue[(e->q_head + e->q_count++) % e->q_cap] = s;
    e->metrics.requests_total++;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return CN_OK;
}

void cn_engine_wait_store(cn_engine *e) {
    if (e->store_worker) serve_store_worker_wait_idle(e->store_worker);
}

void cn_engine_metrics_get(cn_engine *e, cn_engine_metrics *out) {
    pthread_mutex_lock(&e->mu);
    *out = e->metrics;
    out->active = e->n_active + e->n_admitting;
    out->queued = (int)e->q_count;
    /* Tokens of the steps that ended in the window, over the time since the first of them began. */
    const double now = now_seconds();
    double since = now;
    uint64_t tokens = 0;
    for (size_t k = 0; k < e->rate_count; k++) {
        const size_t i = (e->rate_next + RATE_STEPS - 1 - k) % RATE_STEPS;
        if (e->rate_end[i] < now - RATE_WINDOW_SECONDS) break;
        tokens += (uint64_t)e->rate_tokens[i];
        since = e->rate_start[i];
    }
    out->decode_tokens_per_second = now > since ? (double)tokens / (now - since) : 0.0;
    pthread_mutex_unlock(&e->mu);
}
