/* The serving engine against a direct loop written here (cn_model_forward on one state, then
 * cn_sampler_next per token, as cli/generate.c does): the engine's ids, log-probabilities and
 * top alternatives equal the loop's bit for bit, alone and in batches with others joining,
 * queueing and prefilling in chunks, with and without a reused prefix, under a constraint; and
 * the lifecycle: cancel, release, a full queue, the context limit, bad requests, stop with work
 * in flight. The reference runs on its own copy of the model: the engine's is used by its
 * thread alone. */
#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "harness.h"
#include "model/model.h"
#include "serve/engine.h"

static const char *fixture = "tests/fixtures/tiny";

#define MAX_OUT 64
#define TOP_N 5

/* ---- constraint test doubles -------------------------------------------------------------- */

/* Only even ids; after `dead_after` accepted ids (if > 0) nothing at all is allowed. */
typedef struct {
    int accepted, dead_after;
    int *destroyed; /* counts destroy calls, so ownership by the engine is checked */
} even_rule;

static cn_status even_mask(void *self, float *logits, int64_t vocab, cn_error *err) {
    even_rule *r = self;
    if (r->dead_after > 0 && r->accepted >= r->dead_after)
        return cn_fail(err, CN_ERR_ARG, "test rule: dead end after %d ids", r->accepted);
    for (int64_t v = 1; v < vocab; v += 2) logits[v] = -INFINITY;
    return CN_OK;
}

static cn_status even_accept(void *self, int32_t token, cn_error *err) {
    even_rule *r = self;
    if (token % 2) return cn_fail(err, CN_ERR_ARG, "test rule: odd id %d accepted", token);
    r->accepted++;
    return CN_OK;
}

static bool even_complete(const void *self) { return true; }

static void even_destroy(void *self) {
    even_rule *r = self;
    if (r->destroyed) ++*r->destroyed;
    free(r);
}

static const cn_token_constraint_ops even_ops = {even_mask, even_accept, even_complete, even_destroy};

static cn_token_constraint even_constraint(int dead_after, int *destroyed) {
    even_rule *r = calloc(1, sizeof *r);
    r->dead_after = dead_after;
    r->destroyed = destroyed;
    return (cn_token_constraint){&even_ops, r};
}

/* A gate the test holds: mask waits until the test grants a permit, so the engine thread can be
 * held inside a step at a known point (a full slot, a request mid-generation). Allows every id. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int permits;   /* masks that may pass; < 0: open for good */
    int waiting;   /* masks blocked now */
    int destroyed;
} gate;

static cn_status gate_mask(void *self, float *logits, int64_t vocab, cn_error *err) {
    gate *g = self;
    pthread_mutex_lock(&g->mu);
    g->waiting++;
    pthread_cond_broadcast(&g->cv);
    while (g->permits == 0) pthread_cond_wait(&g->cv, &g->mu);
    if (g->permits > 0) g->permits--;
    g->waiting--;
    pthread_mutex_unlock(&g->mu);
    return CN_OK;
}

static cn_status gate_accept(void *self, int32_t token, cn_error *err) { return CN_OK; }
static bool gate_complete(const void *self) { return true; }

static void gate_destroy(void *self) {
    gate *g = self;
    pthread_mutex_lock(&g->mu);
    g->destroyed++;
    pthread_mutex_unlock(&g->mu);
}

static const cn_token_constraint_ops gate_ops = {gate_mask, gate_accept, gate_complete, gate_destroy};

static void gate_init(gate *g) {
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_grant(gate *g, int permits) {
    pthread_mutex_lock(&g->mu);
    g->permits = permits;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Waits until the engine thread is blocked in the gate's mask. */
static void gate_wait_blocked(gate *g) {
    pthread_mutex_lock(&g->mu);
    while (g->waiting == 0) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_free(gate *g) {
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* ---- the reference loop ------------------------------------------------------------------- */

typedef struct {
    int32_t ids[MAX_OUT];
    float logprobs[MAX_OUT];
    cn_token_logprob top[MAX_OUT][TOP_N];
    int n;                   /* TOKEN events */
    cn_finish_reason finish;
    int32_t stop_token;
    int64_t generated, cached;
    char error[768];
} result;

typedef struct {
    const int32_t *prompt;
    int n_prompt;
    cn_sampler_params sampling;
    int max_tokens;
    int32_t stop_id;         /* -1: none */
    bool even_only;
} job;

static int by_logit_then_id(const void *a, const void *b, void *ctx) {
    const float *l = ctx;
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (l[x] != l[y]) return l[x] < l[y] ? 1 : -1;
    return (x > y) - (x < y);
}

/* log softmax(logits)[id], in double from the f32 logits (max subtracted, sum in id order). */
static double log_prob(const float *logits, int64_t V, int32_t id) {
    double mx = logits[0], z = 0.0;
    for (int64_t v = 1; v < V; v++)
        if (logits[v] > mx) mx = logits[v];
    for (int64_t v = 0; v < V; v++) z += exp((double)logits[v] - mx);
    return (double)logits[id] - (mx + log(z));
}

/* The whole prompt in one forward, then one token per forward; ctx 0 = no limit. */
static void reference(cn_model *m, const job *j, int64_t ctx, result *out) {
    cn_error err = {0};
    const int64_t V = m->cfg->vocab_size;
    memset(out, 0, sizeof *out);
    cn_kv_state st;
    cn_sampler sampler;
    CHECK(cn_model_state_init(m, &st, &err) == CN_OK);
    CHECK(cn_sampler_init(&sampler, &j->sampling, &err) == CN_OK);
    float *all = malloc((size_t)(j->n_prompt * V) * sizeof(float)), *masked = malloc((size_t)V * sizeof(float));
    int32_t *order = malloc((size_t)V * sizeof(int32_t));
    CHECKF(cn_model_forward(m, &st, j->prompt, j->n_prompt, all, NULL, &err) == CN_OK, "%s", err.msg);
    float *logits = all + (j->n_prompt - 1) * V;
    for (;;) {
        memcpy(masked, logits, (size_t)V * sizeof(float));
        if (j->even_only)
            for (int64_t v = 1; v < V; v += 2) masked[v] = -INFINITY;
        const int32_t id = cn_sampler_next(&sampler, masked, V);
        out->generated++;
        if (id == j->stop_id) {
            out->finish = CN_FINISH_STOP_TOKEN;
            out->stop_token = id;
            break;
        }
        out->ids[out->n] = id;
        out->logprobs[out->n] = (float)log_prob(logits, V, id);
        for (int64_t v = 0; v < V; v++) order[v] = (int32_t)v;
        qsort_r(order, (size_t)V, sizeof *order, by_logit_then_id, logits);
        for (int k = 0; k < TOP_N; k++)
            out->top[out->n][k] = (cn_token_logprob){order[k], (float)log_prob(logits, V, order[k])};
        out->n++;
        if (out->n == j->max_tokens) {
            out->finish = CN_FINISH_LENGTH;
            break;
        }
        if (ctx > 0 && j->n_prompt + out->n >= ctx) {
            out->finish = CN_FINISH_CONTEXT;
            break;
        }
        CHECK(cn_model_forward(m, &st, &id, 1, all, NULL, &err) == CN_OK);
        logits = all;
    }
    free(all);
    free(masked);
    free(order);
    cn_sampler_free(&sampler);
    cn_kv_state_free(&st);
}

/* ---- driving the engine ------------------------------------------------------------------- */

static cn_engine_options engine_options(int parallel, int64_t prefill_chunk, size_t cache_bytes) {
    cn_engine_options o = {.parallel = parallel, .queue_limit = 16, .prefill_chunk = prefill_chunk, .cache_bytes = cache_bytes};
    return o;
}

static cn_engine *start(cn_model *m, const cn_engine_options *o) {
    cn_error err = {0};
    cn_engine *e = NULL;
    CHECKF(cn_engine_start(m, o, &e, &err) == CN_OK, "%s", err.msg);
    return e;
}

static cn_engine_request request_for(const job *j, int *destroyed) {
    cn_engine_request r = {
        .prompt = j->prompt,
        .n_prompt = (size_t)j->n_prompt,
        .sampling = j->sampling,
        .max_tokens = j->max_tokens,
        .stop_ids = &j->stop_id,
        .n_stop_ids = j->stop_id >= 0 ? 1 : 0,
        .logprobs = true,
        .top_logprobs = TOP_N,
    };
    if (j->even_only) r.constraint = even_constraint(0, destroyed);
    return r;
}

static cn_engine_ticket *submit(cn_engine *e, const job *j) {
    cn_error err = {0};
    cn_engine_ticket *t = NULL;
    cn_engine_request r = request_for(j, NULL);
    CHECKF(cn_engine_submit(e, &r, &t, &err) == CN_OK, "%s", err.msg);
    return t;
}

/* Reads events until DONE (waiting at most 60 s for each) and releases the ticket; `already`
 * tokens were read before. */
static void collect_rest(cn_engine_ticket *t, result *out, int already) {
    memset(out, 0, sizeof *out);
    if (!t) return;
    cn_engine_event ev;
    for (;;) {
        if (!cn_engine_ticket_next(t, &ev, 60000)) {
            CHECKF(0, "no event within 60 s");
            break;
        }
        if (ev.kind == CN_ENGINE_DONE) {
            out->finish = ev.finish;
            out->stop_token = ev.stop_token;
            out->generated = ev.generated_tokens;
            out->cached = ev.cached_tokens;
            memcpy(out->error, ev.error.msg, sizeof out->error);
            CHECK(ev.generated_tokens == already + out->n + (ev.finish == CN_FINISH_STOP_TOKEN));
            break;
        }
        if (out->n < MAX_OUT) {
            out->ids[out->n] = ev.token;
            out->logprobs[out->n] = ev.logprob;
            CHECK(ev.n_top == TOP_N);
            memcpy(out->top[out->n], ev.top, sizeof out->top[0]);
        }
        out->n++;
    }
    cn_engine_ticket_release(t);
}

static void collect(cn_engine_ticket *t, result *out) { collect_rest(t, out, 0); }

static void check_same(const result *got, const result *want, const char *what) {
    CHECKF(got->finish == want->finish, "%s: finish %d, want %d (%s)", what, got->finish, want->finish, got->error);
    CHECKF(got->n == want->n, "%s: %d tokens, want %d", what, got->n, want->n);
    CHECKF(got->n == want->n && memcmp(got->ids, want->ids, (size_t)want->n * sizeof want->ids[0]) == 0,
           "%s: ids differ", what);
    CHECKF(got->n == want->n && memcmp(got->logprobs, want->logprobs, (size_t)want->n * sizeof(float)) == 0,
           "%s: logprobs differ", what);
    CHECKF(got->n == want->n && memcmp(got->top, want->top, (size_t)want->n * sizeof got->top[0]) == 0,
           "%s: top logprobs differ", what);
    CHECKF(got->generated == want->generated, "%s: generated %lld, want %lld", what, (long long)got->generated,
           (long long)want->generated);
    if (want->finish == CN_FINISH_STOP_TOKEN) CHECK(got->stop_token == want->stop_token);
}

static const cn_sampler_params greedy = {.temperature = 0.0f, .top_p = 1.0f};

static cn_sampler_params seeded(uint64_t seed) {
    return (cn_sampler_params){.temperature = 0.9f, .top_k = 0, .top_p = 0.92f, .seed = seed};
}

/* ---- the tests ---------------------------------------------------------------------------- */

/* 1: one request at a time equals the direct loop, greedy and sampled, and a stop id ends it. */
static void test_reference(cn_model *ref, cn_model *m, const int32_t *prompt) {
    cn_engine_options o = engine_options(1, 4, 0);
    cn_engine *e = start(m, &o);
    if (!e) return;
    for (int mode = 0; mode < 3; mode++) {
        job j = {prompt, 11, mode == 0 ? greedy : seeded(1234 + (uint64_t)mode), 20, -1, false};
        result want, got;
        reference(ref, &j, 0, &want);
        collect(submit(e, &j), &got);
        check_same(&got, &want, mode == 0 ? "greedy" : "seeded");
        /* The same request with a stop id taken from the middle of that output. */
        j.stop_id = want.ids[want.n / 2];
        reference(ref, &j, 0, &want);
        CHECK(want.finish == CN_FINISH_STOP_TOKEN);
        collect(submit(e, &j), &got);
        check_same(&got, &want, "stop id");
    }
    cn_engine_stop(e);
}

/* 2: requests of different lengths together, some queued, some joining mid-flight, prompts
 * longer than the chunk prefilled between decode steps: each equals its lone reference. */
static void test_concurrency(cn_model *ref, cn_model *m, const int32_t *prompt) {
    enum { N = 6 };
    const int lengths[N] = {1, 3, 17, 9, 12, 5}, max_tokens[N] = {12, 5, 9, 30, 15, 10};
    job jobs[N];
    result want[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job){prompt + i, lengths[i], i % 2 ? seeded(77 + (uint64_t)i) : greedy, max_tokens[i], -1, i == 4};
        reference(ref, &jobs[i], 0, &want[i]);
    }
    const int parallels[] = {1, 2, 4};
    for (int p = 0; p < 3; p++) {
        cn_engine_options o = engine_options(parallels[p], 4, 0);
        cn_engine *e = start(m, &o);
        if (!e) return;
        cn_engine_ticket *t[N];
        for (int i = 0; i < 3; i++) t[i] = submit(e, &jobs[i]);
        /* The rest arrive once the first ones are generating. */
        cn_engine_metrics mt;
        for (int wait = 0; wait < 60000; wait++) {
            cn_engine_metrics_get(e, &mt);
            if (mt.generated_tokens_total > 0) break;
            struct timespec ts = {0, 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        CHECK(mt.generated_tokens_total > 0);
        for (int i = 3; i < N; i++) t[i] = submit(e, &jobs[i]);
        for (int i = 0; i < N; i++) {
            result got;
            collect(t[i], &got);
            char what[64];
            snprintf(what, sizeof what, "parallel %d, request %d", parallels[p], i);
            check_same(&got, &want[i], what);
        }
        cn_engine_metrics_get(e, &mt);
        CHECK(mt.requests_total == N && mt.requests_rejected == 0 && mt.active == 0 && mt.queued == 0);
        uint64_t prompt_total = 0, generated_total = 0;
        for (int i = 0; i < N; i++) prompt_total += (uint64_t)lengths[i], generated_total += (uint64_t)want[i].generated;
        CHECK(mt.prompt_tokens_total == prompt_total && mt.generated_tokens_total == generated_total);
        cn_engine_stop(e);
    }
}

/* 3: a prompt that extends an earlier prompt+output resumes from the cached state and gives the
 * tokens it gives without a cache; a repeated prompt is served from the stored logits. */
static void test_prefix_reuse(cn_model *ref, cn_model *m, const int32_t *prompt) {
    cn_engine_options o = engine_options(2, 4, 64u << 20);
    cn_engine *e = start(m, &o);
    if (!e) return;
    job a = {prompt, 10, seeded(5), 8, -1, false};
    result want_a, got_a;
    reference(ref, &a, 0, &want_a);
    collect(submit(e, &a), &got_a);
    check_same(&got_a, &want_a, "first turn");
    CHECK(got_a.cached == 0);

    /* Second turn: prompt + output + three new ids. The state stored at the end holds all but the
     * last output id (never fed), so that is what is reused. */
    int32_t turn2[32];
    memcpy(turn2, prompt, 10 * sizeof *turn2);
    memcpy(turn2 + 10, want_a.ids, (size_t)want_a.n * sizeof *turn2);
    const int n2 = 10 + want_a.n + 3;
    for (int i = 10 + want_a.n; i < n2; i++) turn2[i] = (int32_t)(i * 29 % 256);
    job b = {turn2, n2, greedy, 10, -1, false};
    result want_b, got_b;
    reference(ref, &b, 0, &want_b);
    collect(submit(e, &b), &got_b);
    check_same(&got_b, &want_b, "second turn");
    CHECKF(got_b.cached == 10 + want_a.n - 1, "second turn reused %lld tokens, want %d", (long long)got_b.cached,
           10 + want_a.n - 1);

    /* The first prompt again, with the same seed: all of it is cached, sampled from stored logits. */
    collect(submit(e, &a), &got_a);
    check_same(&got_a, &want_a, "repeated prompt");
    CHECK(got_a.cached == 10);

    cn_engine_metrics mt;
    cn_engine_metrics_get(e, &mt);
    CHECK(mt.prefix_hits_memory == 2 && mt.prefix_misses == 1 && mt.cached_tokens_total == (uint64_t)got_b.cached + 10);
    CHECK(mt.cache_bytes > 0);
    cn_engine_stop(e);

    /* A budget too small for any state: nothing is kept, nothing reused, same tokens. */
    o.cache_bytes = 1;
    e = start(m, &o);
    if (!e) return;
    collect(submit(e, &a), &got_a);
    collect(submit(e, &b), &got_b);
    check_same(&got_b, &want_b, "second turn, tiny cache");
    CHECK(got_b.cached == 0);
    cn_engine_stop(e);
}

/* Waits (up to 60 s) until the engine has nothing in flight. */
static void wait_idle(cn_engine *e, cn_engine_metrics *mt) {
    for (int i = 0; i < 6000; i++) {
        cn_engine_metrics_get(e, mt);
        if (mt->active == 0 && mt->queued == 0) return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    CHECKF(0, "engine still busy after 60 s");
}

/* 4 and 5: cancel mid-generation, release without reading, release and cancel of queued
 * tickets, a full queue; the gate holds the engine thread where the test needs it. */
static void test_lifecycle(cn_model *m, const int32_t *prompt) {
    gate g;
    gate_init(&g);
    cn_engine_options o = engine_options(1, 4, 0);
    o.queue_limit = 2;
    cn_engine *e = start(m, &o);
    if (!e) return;
    cn_error err = {0};
    job j = {prompt, 6, greedy, 50, -1, false};
    cn_engine_request gated = request_for(&j, NULL);
    gated.constraint = (cn_token_constraint){&gate_ops, &g};
    cn_engine_ticket *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    CHECK(cn_engine_submit(e, &gated, &a, &err) == CN_OK);
    gate_grant(&g, 2);
    cn_engine_event ev;
    for (int i = 0; i < 2; i++) CHECK(cn_engine_ticket_next(a, &ev, 60000) && ev.kind == CN_ENGINE_TOKEN);
    gate_wait_blocked(&g); /* a holds the only slot, its third mask waiting */

    /* b and c wait in the queue (limit 2); d is refused. */
    b = submit(e, &j);
    c = submit(e, &j);
    cn_engine_request r = request_for(&j, NULL);
    int destroyed = 0;
    r.constraint = even_constraint(0, &destroyed);
    CHECK(cn_engine_submit(e, &r, &d, &err) == CN_ERR_BUSY && d == NULL);
    CHECK(destroyed == 1); /* the engine owned the constraint even though it refused the request */
    cn_engine_metrics mt;
    cn_engine_metrics_get(e, &mt);
    CHECK(mt.requests_rejected == 1 && mt.active == 1 && mt.queued == 2 && mt.requests_total == 3);

    /* Release b unread while queued, cancel c while queued, cancel a mid-generation. */
    cn_engine_ticket_release(b);
    cn_engine_ticket_cancel(c);
    cn_engine_ticket_cancel(a);
    gate_grant(&g, -1);
    result got;
    collect_rest(a, &got, 2);
    CHECK(got.finish == CN_FINISH_CANCELLED);
    CHECKF(got.n == 1, "%d more tokens after the cancel (only the one being sampled may still come)", got.n);
    collect(c, &got);
    CHECK(got.finish == CN_FINISH_CANCELLED && got.n == 0 && got.generated == 0);
    wait_idle(e, &mt);
    CHECK(mt.requests_cancelled == 3 && mt.requests_failed == 0);
    pthread_mutex_lock(&g.mu);
    CHECK(g.destroyed == 1);
    pthread_mutex_unlock(&g.mu);

    /* The slot is free again: a request runs to its end. */
    collect(submit(e, &j), &got);
    CHECK(got.finish == CN_FINISH_LENGTH && got.n == 50);
    cn_engine_stop(e);
    gate_free(&g);
}

/* 5: the context limit ends output; bad requests are refused with CN_ERR_ARG and a message. */
static void test_limits(cn_model *ref, cn_model *m, const int32_t *prompt) {
    cn_engine_options o = engine_options(2, 3, 0);
    o.ctx = 12;
    cn_engine *e = start(m, &o);
    if (!e) return;
    job j = {prompt, 8, greedy, 100, -1, false};
    result want, got;
    reference(ref, &j, o.ctx, &want);
    CHECK(want.finish == CN_FINISH_CONTEXT && want.n == 4);
    collect(submit(e, &j), &got);
    check_same(&got, &want, "context limit");

    cn_error err = {0};
    cn_engine_ticket *t = NULL;
    int destroyed = 0;
    int32_t bad[3] = {1, 256, 2}, negative[2] = {5, -1};
    struct {
        const char *what;
        cn_engine_request r;
    } cases[] = {
        {"prompt filling the context", {.prompt = prompt, .n_prompt = 12, .max_tokens = 1}},
        {"empty prompt", {.prompt = prompt, .n_prompt = 0, .max_tokens = 1}},
        {"token past the vocabulary", {.prompt = bad, .n_prompt = 3, .max_tokens = 1}},
        {"negative token", {.prompt = negative, .n_prompt = 2, .max_tokens = 1}},
        {"max_tokens 0", {.prompt = prompt, .n_prompt = 2, .max_tokens = 0}},
        {"top_logprobs 21", {.prompt = prompt, .n_prompt = 2, .max_tokens = 1, .top_logprobs = 21}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cases[i].r.sampling = greedy;
        cases[i].r.constraint = even_constraint(0, &destroyed);
        err.msg[0] = 0;
        CHECKF(cn_engine_submit(e, &cases[i].r, &t, &err) == CN_ERR_ARG && t == NULL, "%s accepted", cases[i].what);
        CHECKF(err.msg[0] != 0, "%s: no message", cases[i].what);
    }
    CHECK(destroyed == (int)(sizeof cases / sizeof cases[0]));
    cn_engine_request hot = {.prompt = prompt, .n_prompt = 2, .max_tokens = 1, .sampling = {.temperature = -1.0f, .top_p = 1}};
    CHECK(cn_engine_submit(e, &hot, &t, &err) == CN_ERR_ARG && t == NULL);
    cn_engine_stop(e);

    /* Options. */
    cn_engine *none = NULL;
    cn_engine_options bad_opts = engine_options(0, 4, 0);
    CHECK(cn_engine_start(m, &bad_opts, &none, &err) == CN_ERR_ARG && none == NULL);
    bad_opts = engine_options(1, 4, 0);
    bad_opts.kv_dir = "/nonexistent";
    CHECK(cn_engine_start(m, &bad_opts, &none, &err) == CN_ERR_ARG && none == NULL); /* no model_identity */
}

/* 6: a constraint is honoured (same ids as the loop masking the same logits); one at a dead end
 * fails the request with its message after the ids it allowed. */
static void test_constraint(cn_model *ref, cn_model *m, const int32_t *prompt) {
    cn_engine_options o = engine_options(2, 4, 0);
    cn_engine *e = start(m, &o);
    if (!e) return;
    for (int mode = 0; mode < 2; mode++) {
        job j = {prompt + 3, 7, mode ? seeded(99) : greedy, 16, -1, true};
        result want, got;
        reference(ref, &j, 0, &want);
        int destroyed = 0;
        cn_engine_request r = request_for(&j, &destroyed);
        cn_engine_ticket *t = NULL;
        cn_error err = {0};
        CHECK(cn_engine_submit(e, &r, &t, &err) == CN_OK);
        collect(t, &got);
        check_same(&got, &want, "even ids only");
        for (int i = 0; i < got.n; i++) CHECK(got.ids[i] % 2 == 0);
        CHECK(destroyed == 1);
    }
    job j = {prompt, 5, greedy, 16, -1, false};
    int destroyed = 0;
    cn_engine_request r = request_for(&j, NULL);
    r.constraint = even_constraint(3, &destroyed);
    cn_engine_ticket *t = NULL;
    cn_error err = {0};
    CHECK(cn_engine_submit(e, &r, &t, &err) == CN_OK);
    result got;
    collect(t, &got);
    CHECK(got.finish == CN_FINISH_ERROR && got.n == 3);
    CHECKF(strstr(got.error, "dead end after 3 ids") != NULL, "error message: %s", got.error);
    CHECK(destroyed == 1);
    cn_engine_metrics mt;
    cn_engine_metrics_get(e, &mt);
    CHECK(mt.requests_failed == 1);
    cn_engine_stop(e);
}

/* 7: stop with requests decoding and queued: every ticket gets its DONE, after its tokens. */
static void test_stop_in_flight(cn_model *m, const int32_t *prompt) {
    enum { N = 5 };
    cn_engine_options o = engine_options(2, 2, 1u << 20);
    cn_engine *e = start(m, &o);
    if (!e) return;
    cn_engine_ticket *t[N];
    job j = {prompt, 9, seeded(3), 40, -1, false};
    for (int i = 0; i < N; i++) t[i] = submit(e, &j);
    cn_engine_event ev;
    CHECK(cn_engine_ticket_next(t[0], &ev, 60000) && ev.kind == CN_ENGINE_TOKEN);
    cn_engine_stop(e);
    for (int i = 0; i < N; i++) {
        /* Everything is queued already: no waiting. */
        int tokens = i == 0;
        for (;;) {
            if (!cn_engine_ticket_next(t[i], &ev, 0)) {
                CHECKF(0, "ticket %d: no DONE after stop", i);
                break;
            }
            if (ev.kind == CN_ENGINE_DONE) {
                CHECK(ev.finish == CN_FINISH_CANCELLED || ev.finish == CN_FINISH_LENGTH);
                CHECK(ev.generated_tokens == tokens);
                CHECK(cn_engine_ticket_next(t[i], &ev, 0) && ev.kind == CN_ENGINE_DONE); /* DONE again */
                break;
            }
            tokens++;
        }
        cn_engine_ticket_release(t[i]);
    }
}

/* 9: client threads at once (what the HTTP layer does): each submits its requests in turn,
 * cancels some after two tokens and releases others unread; the prompts share prefixes, so the
 * memory cache serves some of them. Completed requests equal their lone reference; cancelled
 * ones end CANCELLED (or finished first) with a prefix of it. */
enum { CLIENTS = 4, PER_CLIENT = 4 };

typedef struct {
    cn_engine *engine;
    const job *jobs;     /* [PER_CLIENT] */
    const result *want;  /* [PER_CLIENT] */
    int failures;        /* checks failed in this thread (the harness counter is not atomic) */
} client;

static void *client_main(void *arg) {
    client *c = arg;
    for (int k = 0; k < PER_CLIENT; k++) {
        cn_engine_request r = request_for(&c->jobs[k], NULL);
        cn_engine_ticket *t = NULL;
        cn_error err = {0};
        if (cn_engine_submit(c->engine, &r, &t, &err) != CN_OK) {
            c->failures++;
            continue;
        }
        const result *want = &c->want[k];
        if (k == 3) { /* unread */
            cn_engine_ticket_release(t);
            continue;
        }
        int n = 0;
        cn_engine_event ev;
        for (;;) {
            if (!cn_engine_ticket_next(t, &ev, 60000)) {
                c->failures++;
                break;
            }
            if (ev.kind == CN_ENGINE_DONE) {
                if (k == 2) c->failures += !(ev.finish == CN_FINISH_CANCELLED || n == want->n);
                else c->failures += ev.finish != want->finish || n != want->n;
                break;
            }
            c->failures += n >= want->n || ev.token != want->ids[n] || ev.logprob != want->logprobs[n];
            if (++n == 2 && k == 2) cn_engine_ticket_cancel(t);
        }
        cn_engine_ticket_release(t);
    }
    return NULL;
}

static void test_client_threads(cn_model *ref, cn_model *m, const int32_t *prompt) {
    job jobs[CLIENTS][PER_CLIENT];
    result *want = malloc(sizeof(result) * CLIENTS * PER_CLIENT);
    for (int c = 0; c < CLIENTS; c++)
        for (int k = 0; k < PER_CLIENT; k++) {
            /* Prompts start at 0 or 2 with lengths 5..14: many share a prefix with an earlier one. */
            jobs[c][k] = (job){prompt + 2 * ((c + k) % 2), 5 + (c * 3 + k * 5) % 10,
                               (c + k) % 3 ? seeded(1000 + (uint64_t)(c * PER_CLIENT + k)) : greedy, 6 + (c + 2 * k) % 9,
                               -1, (c + k) % 4 == 1};
            reference(ref, &jobs[c][k], 0, &want[c * PER_CLIENT + k]);
        }
    cn_engine_options o = engine_options(3, 3, 16u << 20);
    cn_engine *e = start(m, &o);
    if (!e) {
        free(want);
        return;
    }
    client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int c = 0; c < CLIENTS; c++) {
        clients[c] = (client){e, jobs[c], &want[c * PER_CLIENT], 0};
        CHECK(pthread_create(&threads[c], NULL, client_main, &clients[c]) == 0);
    }
    for (int c = 0; c < CLIENTS; c++) {
        pthread_join(threads[c], NULL);
        CHECKF(clients[c].failures == 0, "client %d: %d failed checks", c, clients[c].failures);
    }
    cn_engine_metrics mt;
    wait_idle(e, &mt);
    CHECK(mt.requests_total == CLIENTS * PER_CLIENT && mt.requests_failed == 0 && mt.requests_rejected == 0);
    CHECKF(mt.prefix_hits_memory > 0, "no prefix hit among %d requests sharing prefixes", CLIENTS * PER_CLIENT);
    cn_engine_stop(e);
    free(want);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) { return remove(path); }

/* The persistent store (kv_dir): a second engine over the same directory, as after a restart,
 * resumes a second turn from the state the first engine saved at the end of the first turn, and
 * gives the tokens of the loop without any cache. */
static void test_persistent_store(cn_model *ref, cn_model *m, const int32_t *prompt) {
    char dir[] = "/tmp/clawnet_test_engine_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECKF(0, "mkdtemp failed");
        return;
    }
    cn_engine_options o = engine_options(2, 4, 0); /* no memory cache: every hit is the disk's */
    o.kv_dir = dir;
    o.model_identity = fixture;
    job a = {prompt, 10, seeded(11), 8, -1, false};
    result want_a, got;
    reference(ref, &a, 0, &want_a);
    cn_engine *e = start(m, &o);
    if (!e) return;
    collect(submit(e, &a), &got);
    check_same(&got, &want_a, "first turn, kv_dir");
    cn_engine_metrics mt;
    cn_engine_wait_store(e); /* saves run on the store thread, queued before DONE */
    cn_engine_metrics_get(e, &mt);
    CHECK(mt.store_saves == 1 && mt.store_save_failures == 0 && mt.prefix_misses == 1);
    /* The directory is the open store's: a second engine over it is refused cleanly. */
    cn_engine *second = NULL;
    cn_error err = {0};
    CHECK(cn_engine_start(m, &o, &second, &err) != CN_OK && second == NULL);
    cn_engine_stop(e);

    int32_t turn2[32];
    memcpy(turn2, prompt, 10 * sizeof *turn2);
    memcpy(turn2 + 10, want_a.ids, (size_t)want_a.n * sizeof *turn2);
    const int n2 = 10 + want_a.n + 4;
    for (int i = 10 + want_a.n; i < n2; i++) turn2[i] = (int32_t)(i * 31 % 256);
    job b = {turn2, n2, seeded(12), 10, -1, false};
    result want_b;
    reference(ref, &b, 0, &want_b);
    e = start(m, &o);
    if (!e) return;
    collect(submit(e, &b), &got);
    check_same(&got, &want_b, "second turn after a restart");
    CHECKF(got.cached == 10 + want_a.n - 1, "second turn resumed %lld tokens from disk, want %d", (long long)got.cached,
           10 + want_a.n - 1);
    cn_engine_metrics_get(e, &mt);
    CHECK(mt.prefix_hits_disk == 1 && mt.store_bytes > 0);
    cn_engine_stop(e);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The store's fault hook as a gate: while `hold` is set, a commit (the journal fsync of a save)
 * waits in the store thread until the test lets it go. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool hold;
    int held; /* commits that have waited */
} store_gate;

static cn_kv_store_fault store_gate_fault(void *ctx, cn_kv_store_step step, const char *file) {
    (void)file;
    store_gate *g = ctx;
    if (step != CN_KV_STEP_JOURNAL_FSYNC) return CN_KV_FAULT_NONE;
    pthread_mutex_lock(&g->mu);
    if (g->hold) {
        g->held++;
        pthread_cond_broadcast(&g->cv);
        while (g->hold) pthread_cond_wait(&g->cv, &g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return CN_KV_FAULT_NONE;
}

/* Saves run on the store thread and never hold the engine: with the first request's save stopped
 * at its commit, its DONE has arrived, a second request (which needs no restore) runs to its end
 * with the loop's tokens,
 * and a third that extends the first turn resumes from the state still being saved (a memory
 * hit). Let go, every save commits (cn_engine_wait_store), and after a restart without a memory
 * cache the store thread restores the extension's prefix from disk. */
static void test_store_thread(cn_model *ref, cn_model *m, const int32_t *prompt) {
    char dir[] = "/tmp/clawnet_test_engine_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECKF(0, "mkdtemp failed");
        return;
    }
    store_gate g = {.hold = true};
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    cn_engine_options o = engine_options(2, 4, (size_t)64 << 20);
    o.kv_dir = dir;
    o.model_identity = fixture;
    o.store_fault = store_gate_fault;
    o.store_fault_ctx = &g;
    /* b's prompt is one id: it asks nothing of the store (a restore would wait for the save in
       progress, the store being single-threaded), so it runs on the engine thread alone. */
    job a = {prompt, 10, seeded(21), 8, -1, false}, b = {prompt + 20, 1, seeded(22), 6, -1, false};
    result want_a, want_b, want_c, got;
    reference(ref, &a, 0, &want_a);
    reference(ref, &b, 0, &want_b);
    int32_t turn2[32];
    memcpy(turn2, prompt, 10 * sizeof *turn2);
    memcpy(turn2 + 10, want_a.ids, (size_t)want_a.n * sizeof *turn2);
    const int n2 = 10 + want_a.n + 4;
    for (int i = 10 + want_a.n; i < n2; i++) turn2[i] = (int32_t)(i * 37 % 256);
    job c = {turn2, n2, seeded(23), 5, -1, false};
    reference(ref, &c, 0, &want_c);

    cn_engine *e = start(m, &o);
    if (!e) return;
    collect(submit(e, &a), &got); /* DONE arrives with the save still to commit */
    check_same(&got, &want_a, "first turn, store thread held");
    pthread_mutex_lock(&g.mu);
    while (g.held == 0) pthread_cond_wait(&g.cv, &g.mu); /* the store thread is inside the save */
    pthread_mutex_unlock(&g.mu);
    collect(submit(e, &b), &got);
    check_same(&got, &want_b, "a request while a save is held");
    collect(submit(e, &c), &got);
    check_same(&got, &want_c, "an extension of the turn being saved");
    CHECKF(got.cached == 10 + want_a.n - 1, "the extension resumed %lld tokens, want %d", (long long)got.cached,
           10 + want_a.n - 1);
    cn_engine_metrics mt;
    cn_engine_metrics_get(e, &mt);
    CHECKF(mt.store_saves == 0 && mt.prefix_hits_memory == 1, "while held: %llu saves, %llu memory hits",
           (unsigned long long)mt.store_saves, (unsigned long long)mt.prefix_hits_memory);
    pthread_mutex_lock(&g.mu);
    CHECK(g.held == 1); /* the other saves wait behind the first, in order */
    g.hold = false;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    cn_engine_wait_store(e);
    cn_engine_metrics_get(e, &mt);
    CHECKF(mt.store_saves == 3 && mt.store_save_failures == 0 && mt.store_bytes > 0, "%llu saves, %llu failures",
           (unsigned long long)mt.store_saves, (unsigned long long)mt.store_save_failures);
    cn_engine_stop(e);

    o.cache_bytes = 0; /* every hit is the disk's now */
    e = start(m, &o);
    if (!e) return;
    job c2 = c;
    c2.n_prompt = n2 - 1; /* its longest stored prefix is the first turn's state */
    result want_c2;
    reference(ref, &c2, 0, &want_c2);
    collect(submit(e, &c2), &got);
    check_same(&got, &want_c2, "the extension after a restart");
    CHECKF(got.cached == 10 + want_a.n - 1, "restored %lld tokens from disk, want %d", (long long)got.cached,
           10 + want_a.n - 1);
    cn_engine_metrics_get(e, &mt);
    CHECK(mt.prefix_hits_disk == 1 && mt.prefix_hits_memory == 0);
    cn_engine_stop(e);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
    cn_error err = {0};
    cn_model *ref = NULL, *m = NULL;
    if (cn_model_open(fixture, 2, &ref, &err) || cn_model_open(fixture, 2, &m, &err)) {
        CHECKF(0, "%s", err.msg);
        cn_model_close(ref);
        return cn_test_finish("test_engine");
    }
    int32_t prompt[40];
    const int64_t n = cn_test_read_ids("tests/fixtures/tiny/prompt.txt", prompt, 40);
    CHECK(n == 40);
    test_reference(ref, m, prompt);
    test_concurrency(ref, m, prompt);
    test_prefix_reuse(ref, m, prompt);
    test_lifecycle(m, prompt);
    test_limits(ref, m, prompt);
    test_constraint(ref, m, prompt);
    test_stop_in_flight(m, prompt);
    test_persistent_store(ref, m, prompt);
    test_store_thread(ref, m, prompt);
    test_client_threads(ref, m, prompt);
    cn_model_close(ref);
    cn_model_close(m);
    return cn_test_finish("test_engine");
}
