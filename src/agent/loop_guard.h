/* The loop and drift guard (issue 6 item 4): ends an unattended run with status `stuck` when its
 * tool calls stop making progress in one of these recognisable ways, counted since the last
 * progress (docs/agent.md, "Loop and drift guard"):
 *   identical repeats  the same tool with the same arguments `limit` times;
 *   repeated errors    the same error text from a tool `limit` times, or failed calls in 2*limit
 *                      model steps;
 *   same result        one tool returning the same result in `limit` model steps under varying
 *                      arguments (per step: parallel reads of equal files are one observation);
 *   short cycles       the last calls are R repetitions of a cycle of 2..6 distinct-ish calls
 *                      (A B A B, A B C A B C), R = max(2, ceil(limit/2));
 *   drift              `drift_limit` tool calls in a row without progress (0 = off).
 * Progress is defined by the runtime, never by "a tool was called":
 *   - a file a tool created or whose content hash changed (rewriting identical bytes is not);
 *   - a plan step completed for the first time (plan.h);
 *   - an observed state change: a call repeated with identical arguments returns a result it has
 *     never returned before (a status that moved on; a flapping A/B answer is not new).
 * All state lives in journal tables written inside the tool result's transaction, so the guard
 * survives restarts exactly like the counters it replaces:
 *   guard(key, count)                   -- counters since the last progress
 *   guard_recent(ord, sig)              -- the last 64 call signatures since the last progress
 *   guard_seen(digest PRIMARY KEY, ord) -- (signature, result) pairs seen, the newest 4096
 *   files(path, hash)                   -- content hash of every file a tool changed */
#ifndef CN_AGENT_LOOP_GUARD_H
#define CN_AGENT_LOOP_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/journal.h"
#include "agent/tools.h"

/* Creates the guard's tables (idempotent). */
cn_status cn_loop_guard_schema(cn_journal *j, cn_error *err);

typedef struct {
    const char *tool, *arguments; /* the call as the model made it */
    const char *content;          /* the result text the model sees */
    bool is_error;
    const cn_tool_result *result; /* for the changed file, may be NULL (rejected calls) */
    bool plan_progress;           /* a plan step was completed by this call (plan.h) */
    int64_t step;                 /* the model step that made the call */
} cn_guard_observation;

/* Records one tool result inside the open transaction; *progress says whether it made progress
 * (which resets every counter). */
cn_status cn_loop_guard_record(cn_journal *j, const cn_guard_observation *obs, bool *progress, cn_error *err);

/* Whether a detector has tripped; reason names the detector first ("identical repeats: ..."). */
bool cn_loop_guard_tripped(cn_journal *j, int limit, int drift_limit, char *reason, size_t size);

#endif
