/* One thread, one FIFO of jobs, one store (serve/store_worker.h). */
#include "serve/store_worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct serve_store_worker {
    cn_kv_store *store;
    serve_store_done_fn done;
    void *context;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* a job arrived, one finished, or stop */
    serve_store_job *restores, *restores_tail, *saves, *saves_tail; /* two FIFOs, restores first */
    uint64_t submitted, finished; /* jobs counted at submit and after their done callback */
    bool stopping;
};

static void run(serve_store_worker *w, serve_store_job *job) {
    job->error = (cn_error){0};
    job->matched = 0;
    if (job->op == SERVE_STORE_SAVE) {
        job->status = cn_kv_store_save(w->store, job->ids, job->n, job->state, &job->error);
    } else {
        job->status = cn_kv_store_restore_longest(w->store, job->ids, job->n, job->state, &job->matched, &job->error);
        if (job->status != CN_OK || job->state->n_tokens != (int64_t)job->matched) {
            job->matched = 0;
            cn_kv_state_reset(job->state); /* whatever a failed restore left: back to position 0 */
        }
    }
    cn_kv_store_stats_get(w->store, &job->stats);
}

static void *worker_main(void *arg) {
    serve_store_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->restores && !w->saves && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
        serve_store_job **head = w->restores ? &w->restores : &w->saves;
        serve_store_job **tail = w->restores ? &w->restores_tail : &w->saves_tail;
        serve_store_job *job = *head;
        if (!job) break; /* stopping with nothing left */
        *head = job->next;
        if (!*head) *tail = NULL;
        pthread_mutex_unlock(&w->mu);
        run(w, job);
        w->done(w->context, job); /* the job may be freed by now */
        pthread_mutex_lock(&w->mu);
        w->finished++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

cn_status serve_store_worker_start(cn_kv_store *store, serve_store_done_fn done, void *context,
                                   serve_store_worker **out, cn_error *err) {
    *out = NULL;
    serve_store_worker *w = calloc(1, sizeof *w);
    if (!w) return cn_fail(err, CN_ERR_NOMEM, "out of memory for the kv store thread");
    w->store = store;
    w->done = done;
    w->context = context;
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        free(w);
        return cn_fail(err, CN_ERR_NOMEM, "kv store thread: cannot create a mutex");
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        free(w);
        return cn_fail(err, CN_ERR_NOMEM, "kv store thread: cannot create a condition variable");
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return cn_fail(err, CN_ERR_NOMEM, "kv store thread: cannot start it");
    }
    *out = w;
    return CN_OK;
}

void serve_store_worker_submit(serve_store_worker *w, serve_store_job *job) {
    job->next = NULL;
    pthread_mutex_lock(&w->mu);
    serve_store_job **head = job->op == SERVE_STORE_RESTORE ? &w->restores : &w->saves;
    serve_store_job **tail = job->op == SERVE_STORE_RESTORE ? &w->restores_tail : &w->saves_tail;
    if (*tail) (*tail)->next = job;
    else *head = job;
    *tail = job;
    w->submitted++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void serve_store_worker_wait_idle(serve_store_worker *w) {
    pthread_mutex_lock(&w->mu);
    const uint64_t target = w->submitted;
    while (w->finished < target) pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void serve_store_worker_stop(serve_store_worker *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
