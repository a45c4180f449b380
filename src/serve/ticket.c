#include "serve/ticket.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A TOKEN event without the DONE fields (the error message alone is 768 bytes), so a reader
 * that falls behind costs about 180 bytes per queued token. */
typedef struct {
    int32_t token;
    float logprob;
    int n_top;
    cn_token_logprob top[CN_ENGINE_MAX_TOP_LOGPROBS];
} queued_token;

struct cn_engine_ticket {
    pthread_mutex_t mu;
    pthread_cond_t cv;     /* signalled on every push and on finish */
    queued_token *tokens;  /* FIFO: tokens[head..count) not yet read */
    size_t head, count, cap;
    bool finished;         /* done holds the DONE event */
    cn_engine_event done;
    int refs;              /* caller + engine */
    atomic_bool cancelled; /* set by cancel or release, polled by the engine without the lock */
};

cn_engine_ticket *cn_ticket_create(void) {
    cn_engine_ticket *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Timeouts are measured on the monotonic clock, so a clock change cannot stretch them. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    bool ok = pthread_mutex_init(&t->mu, NULL) == 0;
    if (ok && pthread_cond_init(&t->cv, &attr) != 0) {
        pthread_mutex_destroy(&t->mu);
        ok = false;
    }
    pthread_condattr_destroy(&attr);
    if (!ok) {
        free(t);
        return NULL;
    }
    t->refs = 2;
    atomic_init(&t->cancelled, false);
    return t;
}

static void ticket_free(cn_engine_ticket *t) {
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->tokens);
    free(t);
}

/* Drops one reference; the last one frees the ticket. */
static void ticket_unref(cn_engine_ticket *t) {
    pthread_mutex_lock(&t->mu);
    const bool last = --t->refs == 0;
    pthread_mutex_unlock(&t->mu);
    if (last) ticket_free(t);
}

bool cn_ticket_push_token(cn_engine_ticket *t, const cn_engine_event *ev) {
    pthread_mutex_lock(&t->mu);
    bool ok = true;
    if (t->finished) goto out;
    if (t->head > 0 && t->head == t->count) t->head = t->count = 0; /* all read: start over */
    if (t->count == t->cap) {
        if (t->head > 0) { /* slide the unread tail to the front before growing */
            memmove(t->tokens, t->tokens + t->head, (t->count - t->head) * sizeof *t->tokens);
            t->count -= t->head;
            t->head = 0;
        }
        if (t->count == t->cap) {
            const size_t cap = t->cap ? 2 * t->cap : 16;
            queued_token *grown = realloc(t->tokens, cap * sizeof *grown);
            if (!grown) {
                ok = false;
                goto out;
            }
            t->tokens = grown;
            t->cap = cap;
        }
    }
    queued_token *q = &t->tokens[t->count++];
    q->token = ev->token;
    q->logprob = ev->logprob;
    q->n_top = ev->n_top;
    memcpy(q->top, ev->top, (size_t)ev->n_top * sizeof *q->top);
    pthread_cond_broadcast(&t->cv);
out:
    pthread_mutex_unlock(&t->mu);
    return ok;
}

void cn_ticket_finish(cn_engine_ticket *t, const cn_engine_event *done) {
    pthread_mutex_lock(&t->mu);
    if (!t->finished) {
        t->done = *done;
        t->done.kind = CN_ENGINE_DONE;
        t->finished = true;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
}

bool cn_ticket_cancel_requested(cn_engine_ticket *t) { return atomic_load(&t->cancelled); }

void cn_ticket_drop(cn_engine_ticket *t) { ticket_unref(t); }

static void deadline_after(struct timespec *ts, int timeout_ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool cn_engine_ticket_next(cn_engine_ticket *t, cn_engine_event *event, int timeout_ms) {
    struct timespec deadline;
    if (timeout_ms > 0) deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&t->mu);
    bool got = false;
    for (;;) {
        if (t->head < t->count) {
            const queued_token *q = &t->tokens[t->head++];
            memset(event, 0, sizeof *event);
            event->kind = CN_ENGINE_TOKEN;
            event->token = q->token;
            event->logprob = q->logprob;
            event->n_top = q->n_top;
            memcpy(event->top, q->top, (size_t)q->n_top * sizeof *q->top);
            got = true;
            break;
        }
        if (t->finished) { /* DONE comes after every token, and again on every later call */
            *event = t->done;
            got = true;
            break;
        }
        if (timeout_ms == 0) break;
        if (timeout_ms < 0) {
            pthread_cond_wait(&t->cv, &t->mu);
        } else if (pthread_cond_timedwait(&t->cv, &t->mu, &deadline) == ETIMEDOUT) {
            timeout_ms = 0; /* one last look at the queue, then give up */
        }
    }
    pthread_mutex_unlock(&t->mu);
    return got;
}

void cn_engine_ticket_cancel(cn_engine_ticket *t) {
    if (t) atomic_store(&t->cancelled, true);
}

void cn_engine_ticket_release(cn_engine_ticket *t) {
    if (!t) return;
    atomic_store(&t->cancelled, true);
    ticket_unref(t);
}
