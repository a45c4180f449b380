/* An agent run: the step loop (model call -> for each tool call: intent event -> dispatch ->
 * result event) over the journal (journal.h), journal first: every decision is committed before
 * the side effect it leads to, and resume replays the state the journal implies instead of
 * asking the model or running tools again (docs/agent.md, "Crash semantics").
 *
 * Run state tables, written only in the same transaction as the event that implies them:
 *   run(id=1, run_id, status, task, workspace, model_url, model, api_key_file, created, deadline,
 *       max_steps, max_tokens, max_tool_calls, loop_limit, redact, steps, tokens, tool_calls, reason)
 *   messages(idx, json)                      -- the conversation as sent to the model
 *   tool_calls(ord, step, call_id, name, arguments, arguments_error, state)  -- pending|started|done
 *   files, guard, guard_recent, guard_seen   -- the loop guard's state (loop_guard.h)
 *   plan, plan_done                          -- the model's plan (plan.h)
 *   message_meta, context_state              -- pinned blocks and token accounting (context.h)
 *   settings(key, value)                     -- "policy" and "mcp_config" documents, budgets of the context and
 *                                               archiving, written at creation
 *   runners(seq, pid, boot_id, start_ticks, started) -- every process that executed the run (runner.h)
 */
#ifndef CN_AGENT_RUN_H
#define CN_AGENT_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/journal.h"
#include "agent/runner.h"
#include "agent/toolbox.h"
#include "base/error.h"

typedef struct {
    const char *run_dir; /* created by the caller; holds journal.db, audit.key, audit.pub */
    const char *run_id;
    const char *task;    /* the task text (TASK.md's content) */
    const char *workspace;
    const char *model_url;
    const char *model;
    const char *api_key_file; /* path only; the key itself is never journaled */
    double deadline_unix;     /* absolute; 0 = none */
    int64_t max_steps, max_tokens, max_tool_calls; /* 0 = unlimited */
    int loop_limit;           /* identical calls / errors without progress before `stuck` */
    int drift_limit;          /* tool calls without any progress before `stuck` (0 = off) */
    int64_t context_tokens;   /* compact the conversation above this estimate (context.h); 0 = never */
    int64_t spill_bytes;      /* tool results larger than this go to artifacts (artifacts.h); 0 = never */
    int64_t archive_events;   /* archive old events beyond this many live ones (journal_archive.h); 0 = never */
    bool redact;
    const char *policy_json;     /* --policy file text (run_tools.h); NULL = default policy */
    const char *mcp_config_json; /* --mcp-config file text; NULL = no MCP servers */
    int checkpoint_every;
    cn_journal_commit_hook commit_hook; /* test crash hook; may be NULL */
    void *commit_hook_ctx;
} cn_agent_run_options;

typedef struct {
    cn_journal_commit_hook commit_hook; /* test crash hook; may be NULL */
    void *commit_hook_ctx;
    FILE *progress;       /* one line per step and tool call; may be NULL */
    long model_timeout_s;
    int checkpoint_every;
    /* A toolbox already built (run_tools.h) from exactly the policy and MCP configuration stored
     * with the run: `agent run` builds one to check them before creating the run and hands it
     * over, so its MCP servers are not started a second time. The run owns it from the call on
     * (destroyed when it returns, whatever happens). NULL: built from the journal's settings. */
    cn_toolbox *tools;
    int64_t tools_call_timeout_s; /* what that build reported as the policy's per-call limit */
} cn_agent_exec_options;

#define CN_AGENT_STATUS_MAX 32

/* Creates the journal of a new run (keys, schema, run_created event, first messages). */
cn_status cn_agent_run_create(const cn_agent_run_options *opts, cn_error *err);

/* Runs (or resumes) the run in run_dir until it ends; *status gets its final status
 * (finished, stuck, budget_exhausted, deadline_exceeded, stopped, failed). */
cn_status cn_agent_run_execute(const char *run_dir, const char *run_id, bool resuming, const cn_agent_exec_options *opts,
                               char status[CN_AGENT_STATUS_MAX], cn_error *err);

/* Marks a running run stopped (event stop_requested); the runner ends at its next step. */
cn_status cn_agent_run_stop(const char *run_dir, const char *run_id, cn_error *err);

/* Opens a run's journal for reading and writing (keys from run_dir). */
cn_status cn_agent_journal_open(const char *run_dir, const char *run_id, int checkpoint_every, cn_journal **out,
                                cn_error *err);

bool cn_agent_status_is_final(const char *status);

/* The identity of the process that last started executing the run (runner.h); false if none
 * was recorded (a journal from before runners were recorded, or a run never executed). */
bool cn_agent_last_runner(cn_journal *j, cn_runner_identity *id);

#endif
