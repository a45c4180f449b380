/* The run's plan: a list of steps the model keeps with the update_plan tool. The plan is run
 * state (journal table plan, replaced whole by each update in the call's result transaction), a
 * pinned block that compaction never drops (context.h), and a source of progress for the loop
 * guard: a step title that reaches "done" for the first time (plan_done remembers the titles ever
 * completed, so marking a step undone and done again is not progress twice).
 *   plan(idx, title, status)      -- the current plan, status pending | in_progress | done
 *   plan_done(title PRIMARY KEY)  -- every title ever completed */
#ifndef CN_AGENT_PLAN_H
#define CN_AGENT_PLAN_H

#include <stdbool.h>

#include "agent/journal.h"
#include "agent/toolbox.h"

#define CN_PLAN_MAX_STEPS 50
#define CN_PLAN_MAX_TITLE 300

cn_status cn_plan_schema(cn_journal *j, cn_error *err);

/* Adds the update_plan tool (class idempotent: it only replaces the plan). */
cn_status cn_plan_add_tool(cn_toolbox *tb, cn_error *err);
bool cn_plan_is_tool(const cn_tool *tool);

/* Stores the plan in args (already validated by the tool) inside the open transaction; *completed
 * is the number of titles done for the first time. */
cn_status cn_plan_store(cn_journal *j, const char *args_json, int *completed, cn_error *err);

/* The plan as text for the pinned block ("Plan (kept by update_plan):\n[x] ...\n"); NULL when the
 * plan is empty or on error (malloc'd). */
char *cn_plan_render(cn_journal *j);

#endif
