/* The conversation's size over a long run (issue 6 item 6): token accounting and compaction.
 *
 * Accounting: every model reply's usage (prompt and completion tokens) is added up in
 * context_state in the reply's transaction; a reply without usage is estimated at 4 bytes per
 * token (request body and message) and counted as estimated. The conversation's current size is
 * estimated as max(message bytes / 4, the last reported prompt tokens + bytes added since / 4).
 *
 * Compaction, when that estimate passes the run's context budget, before a model step: the
 * messages between the pinned blocks and a recent tail (whole turns, about a quarter of the
 * budget, at least the last turn) are rendered as a transcript and the model is asked for a
 * summary (a request without tools; journaled by the caller as a `compaction` event with the
 * request hash and the summary). In that event's transaction the messages table is rebuilt as:
 * the pinned blocks (system prompt, the task: TASK.md verbatim, with its goal and constraints),
 * the current plan (plan.h) as a pinned block, the summary, then the tail, unchanged. A pinned
 * block is never summarised or dropped. Finished tool_calls rows are trimmed at the same time, so
 * the run's state tables stay bounded; the append-only events keep everything (audit).
 *
 * Tables (besides run.c's messages and tool_calls):
 *   message_meta(idx PRIMARY KEY, kind)  -- system | task | plan | summary for pinned/summary rows
 *   context_state(id=1, prompt_tokens, completion_tokens, estimated_replies, last_prompt_tokens,
 *                 bytes_at_last, compactions) */
#ifndef CN_AGENT_CONTEXT_H
#define CN_AGENT_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/journal.h"

cn_status cn_context_schema(cn_journal *j, cn_error *err);

/* Marks message idx as a pinned or summary block (inside an open transaction). */
cn_status cn_context_mark(cn_journal *j, int64_t idx, const char *kind, cn_error *err);

/* Adds one reply's tokens (inside its transaction). request_messages_bytes: the bytes of the
 * messages the request carried. */
cn_status cn_context_account(cn_journal *j, int64_t prompt_tokens, int64_t completion_tokens, bool estimated,
                             int64_t request_messages_bytes, cn_error *err);

/* The estimated size of the conversation in tokens. */
int64_t cn_context_estimate(cn_journal *j);

typedef struct {
    char *request_body;    /* the summary request (malloc'd) */
    int64_t tail_from_idx; /* first message kept verbatim */
    int64_t summarized;    /* messages replaced by the summary */
    int64_t tokens_before; /* estimate before */
} cn_compaction;

/* Plans a compaction for a budget of budget_tokens: *needed is false when there is no whole turn
 * between the pinned blocks and the tail (then nothing is asked). */
cn_status cn_context_plan(cn_journal *j, const char *model, int64_t budget_tokens, bool *needed, cn_compaction *out,
                          cn_error *err);

/* Inside the compaction event's transaction: rebuilds messages as pinned blocks, plan, summary,
 * tail; trims finished tool calls; counts the compaction. */
cn_status cn_context_apply(cn_journal *j, const cn_compaction *c, const char *summary, cn_error *err);
void cn_compaction_free(cn_compaction *c);

#endif
