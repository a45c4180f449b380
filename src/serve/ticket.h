/* The engine's side of a ticket (serve/engine.h): a per-request event queue between the engine
 * thread, which pushes TOKEN events and one DONE, and the caller, which reads them at its own
 * pace (cn_engine_ticket_next), cancels, and releases. A mutex and a condition variable guard
 * the queue; the ticket is freed when both sides have let go of it (a reference count of two),
 * so a caller that releases early and an engine that finishes late never race on the memory. */
#ifndef CN_SERVE_TICKET_H
#define CN_SERVE_TICKET_H

#include <stdbool.h>

#include "serve/engine.h"

/* A ticket held by the caller and the engine. NULL when out of memory. */
cn_engine_ticket *cn_ticket_create(void);

/* Queues one TOKEN event (its token, logprob and top fields). false when out of memory (the
 * engine then finishes the request with an error instead). */
bool cn_ticket_push_token(cn_engine_ticket *t, const cn_engine_event *token);

/* Queues the DONE event (kind is set here); later pushes are ignored. */
void cn_ticket_finish(cn_engine_ticket *t, const cn_engine_event *done);

/* Whether the caller cancelled or released the ticket; read by the engine at every step. */
bool cn_ticket_cancel_requested(cn_engine_ticket *t);

/* The engine lets go of the ticket (after cn_ticket_finish). */
void cn_ticket_drop(cn_engine_ticket *t);

#endif
