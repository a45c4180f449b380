/* The agent step loop over the journal (run.h). */
#include "agent/run.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/artifacts.h"
#include "agent/audit.h"
#include "agent/context.h"
#include "agent/journal_archive.h"
#include "agent/loop_guard.h"
#include "agent/model_client.h"
#include "agent/plan.h"
#include "agent/tool_schema.h"
#include "agent/run_tools.h"
#include "agent/runner.h"
#include "agent/tools.h"

static const char run_schema[] =
    "CREATE TABLE IF NOT EXISTS run(id INTEGER PRIMARY KEY CHECK(id = 1), run_id TEXT, status TEXT, task TEXT,"
    " workspace TEXT, model_url TEXT, model TEXT, api_key_file TEXT, created REAL, deadline REAL,"
    " max_steps INTEGER, max_tokens INTEGER, max_tool_calls INTEGER, loop_limit INTEGER, redact INTEGER,"
    " steps INTEGER, tokens INTEGER, tool_calls INTEGER, reason TEXT);"
    "CREATE TABLE IF NOT EXISTS messages(idx INTEGER PRIMARY KEY, json TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS tool_calls(ord INTEGER PRIMARY KEY, step INTEGER, call_id TEXT, name TEXT,"
    " arguments TEXT, arguments_error TEXT, state TEXT);"
    "CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS runners(seq INTEGER PRIMARY KEY, pid INTEGER, boot_id TEXT, start_ticks INTEGER,"
    " started REAL);";

static const char system_prompt[] =
    "You are an autonomous agent working on the task the user gives you. You can only act through the tools; "
    "file paths are relative to your workspace. When the task is done, answer with a short summary and no "
    "tool calls.";

typedef struct {
    char status[CN_AGENT_STATUS_MAX];
    char *workspace, *model_url, *model, *api_key_file;
    double deadline;
    int64_t max_steps, max_tokens, max_tool_calls, steps, tokens, tool_calls;
    int loop_limit;
    bool redact;
} run_row;

typedef struct {
    cn_journal *j;
    run_row row;
    cn_workspace ws;
    cn_toolbox *tools;
    cn_model_client_config model;
    char *api_key;
    char *model_url; /* owned: row strings are reloaded every step */
    FILE *progress;
    int drift_limit; /* settings "drift_limit" (loop_guard.h) */
    int64_t context_tokens, spill_bytes; /* settings (context.h, artifacts.h); 0 = off */
    int64_t archive_events; /* setting (journal_archive.h); 0 = off */
    const char *run_dir;
    int64_t request_messages_bytes; /* of the request being answered (context accounting) */
    int64_t call_timeout_s; /* the policy's limits.timeout_s: every tool call's deadline */
    bool resuming;
    bool has_mcp;           /* MCP servers configured: the tool set can change during the run */
    bool tools_synced;      /* sync_tools ran in this process */
    char tools_sha256[65];  /* of the tool set the journal last recorded ("" before the first) */
} run_ctx;

static void run_row_free(run_row *r) {
    free(r->workspace);
    free(r->model_url);
    free(r->model);
    free(r->api_key_file);
    memset(r, 0, sizeof *r);
}

static char *column_dup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

static cn_status load_run_row(cn_journal *j, run_row *r, cn_error *err) {
    run_row_free(r);
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j,
                                     "SELECT status, workspace, model_url, model, api_key_file, deadline, max_steps,"
                                     " max_tokens, max_tool_calls, steps, tokens, tool_calls, loop_limit, redact"
                                     " FROM run WHERE id = 1",
                                     &st, err);
    if (s != CN_OK) return s;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cn_fail(err, CN_ERR_FORMAT, "journal has no run record");
    }
    snprintf(r->status, sizeof r->status, "%s", (const char *)sqlite3_column_text(st, 0));
    r->workspace = column_dup(st, 1);
    r->model_url = column_dup(st, 2);
    r->model = column_dup(st, 3);
    r->api_key_file = column_dup(st, 4);
    r->deadline = sqlite3_column_double(st, 5);
    r->max_steps = sqlite3_column_int64(st, 6);
    r->max_tokens = sqlite3_column_int64(st, 7);
    r->max_tool_calls = sqlite3_column_int64(st, 8);
    r->steps = sqlite3_column_int64(st, 9);
    r->tokens = sqlite3_column_int64(st, 10);
    r->tool_calls = sqlite3_column_int64(st, 11);
    r->loop_limit = sqlite3_column_int(st, 12);
    r->redact = sqlite3_column_int(st, 13) != 0;
    sqlite3_finalize(st);
    return CN_OK;
}

bool cn_agent_status_is_final(const char *s) {
    return !strcmp(s, "finished") || !strcmp(s, "stuck") || !strcmp(s, "budget_exhausted") ||
           !strcmp(s, "deadline_exceeded") || !strcmp(s, "stopped") || !strcmp(s, "failed");
}

cn_status cn_agent_journal_open(const char *run_dir, const char *run_id, int checkpoint_every, cn_journal **out,
                                cn_error *err) {
    unsigned char sk[crypto_sign_SECRETKEYBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    cn_status s = cn_audit_key_load_or_create(run_dir, sk, pk, err);
    if (s != CN_OK) return s;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/journal.db", run_dir);
    s = cn_journal_open(path, run_id, sk, checkpoint_every, out, err);
    sodium_memzero(sk, sizeof sk);
    if (s == CN_OK && ((s = cn_journal_exec(*out, run_schema, err)) != CN_OK || (s = cn_loop_guard_schema(*out, err)) != CN_OK ||
                       (s = cn_plan_schema(*out, err)) != CN_OK ||
                       (s = cn_context_schema(*out, err)) != CN_OK || (s = cn_archive_schema(*out, err)) != CN_OK)) {
        cn_journal_close(*out);
        *out = NULL;
    }
    return s;
}

/* Appends an event whose payload is obj (serialised compactly), redacting the named fields
 * when the run is in redaction mode. */
static cn_status append_json(run_ctx *c, const char *kind, cJSON *obj, const char *const *sensitive, size_t n_sensitive,
                             cn_error *err) {
    if (c->row.redact && n_sensitive) cn_audit_redact_fields(obj, sensitive, n_sensitive);
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    cn_status s = cn_journal_append(c->j, kind, text, strlen(text), NULL, err);
    free(text);
    return s;
}

static cn_status add_message(cn_journal *j, const char *json, cn_error *err) {
    return cn_journal_exec_text(j, "INSERT INTO messages(idx, json) VALUES((SELECT COALESCE(MAX(idx), 0) + 1 FROM messages), ?)",
                     json, NULL, err);
}

static cn_status put_setting(cn_journal *j, const char *key, const char *value, cn_error *err) {
    return cn_journal_exec_text(j, "INSERT OR REPLACE INTO settings(key, value) VALUES(?, ?)", key, value ? value : "", err);
}

/* A setting's value (malloc'd; "" when absent, as in journals from before the settings table). */
static char *get_setting(cn_journal *j, const char *key, cn_error *err) {
    sqlite3_stmt *st;
    if (cn_journal_prepare(j, "SELECT value FROM settings WHERE key = ?", &st, err) != CN_OK) return NULL;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    char *v = sqlite3_step(st) == SQLITE_ROW ? column_dup(st, 0) : strdup("");
    sqlite3_finalize(st);
    if (!v) cn_fail(err, CN_ERR_NOMEM, "out of memory");
    return v;
}

cn_status cn_agent_run_create(const cn_agent_run_options *o, cn_error *err) {
    cn_journal *j;
    cn_status s = cn_agent_journal_open(o->run_dir, o->run_id, o->checkpoint_every, &j, err);
    if (s != CN_OK) return s;
    if (o->commit_hook) cn_journal_set_commit_hook(j, o->commit_hook, o->commit_hook_ctx);
    run_ctx c = {.j = j, .row.redact = o->redact};
    if ((s = cn_journal_begin(j, err)) != CN_OK) goto done;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "task", o->task);
    cJSON_AddStringToObject(ev, "workspace", o->workspace);
    cJSON_AddStringToObject(ev, "model_url", o->model_url);
    cJSON_AddStringToObject(ev, "model", o->model);
    cJSON_AddNumberToObject(ev, "deadline", o->deadline_unix);
    cJSON_AddNumberToObject(ev, "max_steps", (double)o->max_steps);
    cJSON_AddNumberToObject(ev, "max_tokens", (double)o->max_tokens);
    cJSON_AddNumberToObject(ev, "max_tool_calls", (double)o->max_tool_calls);
    cJSON_AddNumberToObject(ev, "loop_limit", o->loop_limit);
    cJSON_AddNumberToObject(ev, "drift_limit", o->drift_limit);
    cJSON_AddNumberToObject(ev, "context_tokens", (double)o->context_tokens);
    cJSON_AddNumberToObject(ev, "spill_bytes", (double)o->spill_bytes);
    cJSON_AddNumberToObject(ev, "archive_events", (double)o->archive_events);
    cJSON_AddBoolToObject(ev, "redact", o->redact);
    cJSON_AddStringToObject(ev, "policy", o->policy_json ? o->policy_json : "");
    cJSON_AddStringToObject(ev, "mcp_config", o->mcp_config_json ? o->mcp_config_json : "");
    static const char *const sensitive[] = {"task"};
    s = append_json(&c, "run_created", ev, sensitive, 1, err);
    cJSON_Delete(ev);
    sqlite3_stmt *st;
    if (s == CN_OK)
        s = cn_journal_prepare(j,
                               "INSERT INTO run(id, run_id, status, task, workspace, model_url, model, api_key_file,"
                               " created, deadline, max_steps, max_tokens, max_tool_calls, loop_limit, redact, steps,"
                               " tokens, tool_calls, reason) VALUES(1,?,'running',?,?,?,?,?,?,?,?,?,?,?,?,0,0,0,'')",
                               &st, err);
    if (s == CN_OK) {
        sqlite3_bind_text(st, 1, o->run_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, o->task, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, o->workspace, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, o->model_url, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, o->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, o->api_key_file ? o->api_key_file : "", -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 7, (double)time(NULL));
        sqlite3_bind_double(st, 8, o->deadline_unix);
        sqlite3_bind_int64(st, 9, o->max_steps);
        sqlite3_bind_int64(st, 10, o->max_tokens);
        sqlite3_bind_int64(st, 11, o->max_tool_calls);
        sqlite3_bind_int(st, 12, o->loop_limit);
        sqlite3_bind_int(st, 13, o->redact);
        s = cn_journal_step_done(j, st, err);
    }
    if (s == CN_OK) s = put_setting(j, "policy", o->policy_json, err);
    if (s == CN_OK) s = put_setting(j, "mcp_config", o->mcp_config_json, err);
    char drift[32];
    snprintf(drift, sizeof drift, "%d", o->drift_limit);
    if (s == CN_OK) s = put_setting(j, "drift_limit", drift, err);
    snprintf(drift, sizeof drift, "%lld", (long long)o->context_tokens);
    if (s == CN_OK) s = put_setting(j, "context_tokens", drift, err);
    snprintf(drift, sizeof drift, "%lld", (long long)o->spill_bytes);
    if (s == CN_OK) s = put_setting(j, "spill_bytes", drift, err);
    snprintf(drift, sizeof drift, "%lld", (long long)o->archive_events);
    if (s == CN_OK) s = put_setting(j, "archive_events", drift, err);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", system_prompt);
    char *sys = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", o->task);
    char *user = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    if (s == CN_OK) s = add_message(j, sys, err);
    if (s == CN_OK) s = add_message(j, user, err);
    /* The pinned blocks compaction keeps verbatim (context.h). */
    if (s == CN_OK) s = cn_context_mark(j, 1, "system", err);
    if (s == CN_OK) s = cn_context_mark(j, 2, "task", err);
    free(sys);
    free(user);
    if (s == CN_OK) s = cn_journal_commit(j, err);
    else cn_journal_rollback(j);
done:
    cn_journal_close(j);
    return s;
}

/* ---- ending and guard ---- */

static cn_status end_run(run_ctx *c, const char *status, const char *reason, cn_error *err) {
    cn_status s = cn_journal_begin(c->j, err);
    if (s != CN_OK) return s;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "status", status);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddNumberToObject(ev, "steps", (double)c->row.steps);
    cJSON_AddNumberToObject(ev, "tokens", (double)c->row.tokens);
    cJSON_AddNumberToObject(ev, "tool_calls", (double)c->row.tool_calls);
    s = append_json(c, "run_end", ev, NULL, 0, err);
    cJSON_Delete(ev);
    if (s == CN_OK) s = cn_journal_exec_text(c->j, "UPDATE run SET status = ?, reason = ? WHERE id = 1", status, reason, err);
    /* Redaction mode keeps sensitive text only while it is needed to continue the run. */
    if (s == CN_OK && c->row.redact) s = cn_journal_exec(c->j, "DELETE FROM messages", err);
    if (s == CN_OK && c->row.redact && c->run_dir) cn_artifacts_remove_all(c->run_dir);
    if (s == CN_OK) s = cn_journal_checkpoint(c->j, err);
    if (s == CN_OK) s = cn_journal_commit(c->j, err);
    else cn_journal_rollback(c->j);
    if (s == CN_OK) snprintf(c->row.status, sizeof c->row.status, "%s", status);
    if (s == CN_OK && c->progress) fprintf(c->progress, "run %s: %s\n", status, reason);
    return s;
}

/* ---- tool calls ---- */

typedef struct {
    int64_t ord, step;
    char *call_id, *name, *arguments, *arguments_error, *state;
} call_row;

static void call_row_free(call_row *r) {
    free(r->call_id);
    free(r->name);
    free(r->arguments);
    free(r->arguments_error);
    free(r->state);
}

static bool next_open_call(run_ctx *c, call_row *out) {
    sqlite3_stmt *st;
    cn_error e = {0};
    memset(out, 0, sizeof *out);
    if (cn_journal_prepare(c->j,
                           "SELECT ord, call_id, name, arguments, arguments_error, state, step FROM tool_calls"
                           " WHERE state != 'done' ORDER BY ord LIMIT 1",
                           &st, &e) != CN_OK)
        return false;
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        out->ord = sqlite3_column_int64(st, 0);
        out->call_id = column_dup(st, 1);
        out->name = column_dup(st, 2);
        out->arguments = column_dup(st, 3);
        out->arguments_error = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL : column_dup(st, 4);
        out->state = column_dup(st, 5);
        out->step = sqlite3_column_int64(st, 6);
    }
    sqlite3_finalize(st);
    return found;
}

static char *error_json(const char *code, const char *message) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", message);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* One transaction: the result event, the tool message, the call marked done, counters, progress
 * and the loop guard. outcome: "ok", "error", "rejected" (never dispatched) or "unknown". */
static cn_status commit_result(run_ctx *c, const call_row *call, const char *outcome, const cn_tool_result *r,
                               bool rerun, cn_error *err) {
    /* A large result goes to an artifact file (on disk before the commit that refers to it); the
     * conversation and the event get its preview. read_artifact pages are never spilled again. */
    const char *content = r->content ? r->content : "";
    size_t content_len = strlen(content);
    cn_artifact art = {0};
    bool spilled = false;
    if (c->spill_bytes > 0 && c->run_dir && content_len > (size_t)c->spill_bytes &&
        !cn_artifacts_is_tool(cn_toolbox_find(c->tools, call->name))) {
        cn_status s = cn_artifact_spill(c->run_dir, call->ord, content, content_len, &art, err);
        if (s != CN_OK) return s;
        spilled = true;
        content = art.message;
    }
    cn_status s = cn_journal_begin(c->j, err);
    if (s != CN_OK) {
        cn_artifact_free(&art);
        return s;
    }
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "call_id", call->call_id);
    cJSON_AddStringToObject(ev, "name", call->name);
    cJSON_AddStringToObject(ev, "outcome", outcome);
    if (rerun) cJSON_AddBoolToObject(ev, "rerun", true);
    cJSON_AddStringToObject(ev, "content", content);
    if (spilled) {
        cJSON *a = cJSON_AddObjectToObject(ev, "artifact");
        cJSON_AddStringToObject(a, "id", art.id);
        cJSON_AddNumberToObject(a, "bytes", (double)art.bytes);
        cJSON_AddStringToObject(a, "sha256", art.sha256);
    }
    static const char *const sensitive[] = {"content"};
    s = append_json(c, "tool_result", ev, sensitive, 1, err);
    cJSON_Delete(ev);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "tool");
    cJSON_AddStringToObject(m, "tool_call_id", call->call_id);
    cJSON_AddStringToObject(m, "content", content);
    char *msg = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    if (s == CN_OK) s = add_message(c->j, msg, err);
    free(msg);
    char ord[32];
    snprintf(ord, sizeof ord, "%lld", (long long)call->ord);
    if (s == CN_OK) s = cn_journal_exec_text(c->j, "UPDATE tool_calls SET state = 'done' WHERE ord = ?", ord, NULL, err);
    if (s == CN_OK) s = cn_journal_exec(c->j, "UPDATE run SET tool_calls = tool_calls + 1 WHERE id = 1", err);
    bool progress = false;
    int completed = 0;
    if (s == CN_OK && !strcmp(outcome, "ok") && cn_plan_is_tool(cn_toolbox_find(c->tools, call->name)))
        s = cn_plan_store(c->j, call->arguments, &completed, err);
    cn_guard_observation obs = {.tool = call->name, .arguments = call->arguments, .content = r->content,
                                .is_error = r->is_error, .result = r, .plan_progress = completed > 0,
                                .step = call->step};
    if (s == CN_OK) s = cn_loop_guard_record(c->j, &obs, &progress, err);
    if (s == CN_OK) s = cn_journal_commit(c->j, err);
    else cn_journal_rollback(c->j);
    if (s == CN_OK) c->row.tool_calls++;
    if (s == CN_OK && c->progress)
        fprintf(c->progress, "  %s %s: %s%s%s\n", call->name, outcome, progress ? "progress" : "no change",
                rerun ? " (re-run)" : "", spilled ? " (spilled to an artifact)" : "");
    cn_artifact_free(&art);
    return s;
}

static cn_status reject_call(run_ctx *c, const call_row *call, const char *code, const char *message, cn_error *err) {
    cn_tool_result r = {.is_error = true, .content = error_json(code, message)};
    cn_status s = commit_result(c, call, "rejected", &r, false, err);
    cn_tool_result_free(&r);
    return s;
}

static cn_status dispatch(run_ctx *c, const call_row *call, const cn_tool *tool, bool rerun, cn_error *err) {
    cJSON *args = cJSON_Parse(call->arguments);
    cn_tool_result r = {0};
    /* The policy's per-call limit, and never past the run's deadline. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double call_deadline = (double)now.tv_sec + (double)now.tv_nsec * 1e-9 + (double)c->call_timeout_s;
    if (c->row.deadline > 0 && c->row.deadline < call_deadline) call_deadline = c->row.deadline;
    cn_tool_env env = {.ws = &c->ws, .call_deadline = call_deadline};
    cn_status s = tool->run(tool, &env, args, &r, err);
    cJSON_Delete(args);
    if (s != CN_OK) {
        cn_tool_result_free(&r);
        return s;
    }
    if (r.is_error) {
        char *wrapped = error_json("tool_error", r.content ? r.content : "");
        free(r.content);
        r.content = wrapped;
    }
    s = commit_result(c, call, r.is_error ? "error" : "ok", &r, rerun, err);
    cn_tool_result_free(&r);
    return s;
}

static cn_status handle_call(run_ctx *c, const call_row *call, cn_error *err) {
    const cn_tool *tool = cn_toolbox_find(c->tools, call->name);
    if (!strcmp(call->state, "started")) {
        /* The intent is journaled but the result is not: the process died during dispatch. */
        if (tool && tool->cls != CN_TOOL_SIDE_EFFECT) return dispatch(c, call, tool, true, err);
        cn_tool_result r = {.is_error = true,
                            .content = error_json("outcome_unknown",
                                                  "the runtime stopped after starting this call and before recording "
                                                  "its result; it may or may not have taken effect. Check the "
                                                  "workspace before repeating it.")};
        cn_status s = commit_result(c, call, "unknown", &r, false, err);
        cn_tool_result_free(&r);
        return s;
    }
    if (!tool) {
        size_t n = cn_toolbox_count(c->tools);
        char msg[512];
        int at = snprintf(msg, sizeof msg, "no tool named \"%s\"; available:", call->name);
        for (size_t i = 0; i < n && at < (int)sizeof msg; i++)
            at += snprintf(msg + at, sizeof msg - (size_t)at, " %s", cn_toolbox_at(c->tools, i)->name);
        return reject_call(c, call, "unknown_tool", msg, err);
    }
    if (call->arguments_error) return reject_call(c, call, "invalid_arguments", call->arguments_error, err);
    cJSON *schema = cJSON_Parse(tool->parameters), *args = cJSON_Parse(call->arguments);
    char msg[300];
    bool valid = cn_tool_schema_validate(schema, args, msg, sizeof msg);
    cJSON_Delete(schema);
    cJSON_Delete(args);
    if (!valid) {
        char full[400];
        snprintf(full, sizeof full, "%s: %s", call->name, msg);
        return reject_call(c, call, "invalid_arguments", full, err);
    }
    /* Intent first: committed (synchronous=FULL) before the side effect happens. */
    cn_status s = cn_journal_begin(c->j, err);
    if (s != CN_OK) return s;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "call_id", call->call_id);
    cJSON_AddStringToObject(ev, "name", call->name);
    cJSON_AddStringToObject(ev, "arguments", call->arguments);
    cJSON_AddStringToObject(ev, "class", cn_tool_class_name(tool->cls));
    static const char *const sensitive[] = {"arguments"};
    s = append_json(c, "tool_intent", ev, sensitive, 1, err);
    cJSON_Delete(ev);
    char ord[32];
    snprintf(ord, sizeof ord, "%lld", (long long)call->ord);
    if (s == CN_OK) s = cn_journal_exec_text(c->j, "UPDATE tool_calls SET state = 'started' WHERE ord = ?", ord, NULL, err);
    if (s == CN_OK) s = cn_journal_commit(c->j, err);
    else cn_journal_rollback(c->j);
    if (s != CN_OK) return s;
    return dispatch(c, call, tool, false, err);
}

/* ---- model step ---- */

/* The tools offered to the model: the request's "tools" array (OpenAI function format). */
static cJSON *tools_array(const cn_toolbox *tb) {
    cJSON *tools = cJSON_CreateArray();
    for (size_t i = 0; tools && i < cn_toolbox_count(tb); i++) {
        const cn_tool *tool = cn_toolbox_at(tb, i);
        cJSON *t = cJSON_CreateObject(), *fn = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "function");
        cJSON_AddStringToObject(fn, "name", tool->name);
        cJSON_AddStringToObject(fn, "description", tool->description);
        cJSON_AddItemToObject(fn, "parameters", cJSON_Parse(tool->parameters));
        cJSON_AddItemToObject(t, "function", fn);
        cJSON_AddItemToArray(tools, t);
    }
    return tools;
}

/* Brings the tool set up to date before a model request (an MCP server's
 * notifications/tools/list_changed, or a restart, may have changed it: toolbox.h refresh) and,
 * in a run with MCP servers, journals it as a `tools` event whenever it differs from the set the
 * journal last recorded: at the first request ("start"), after a change during the run
 * ("list_changed"), and when a resumed run's servers offer other tools than the journal says
 * ("resumed": the model sees the servers' real tools from the next request on; steps already
 * answered are never asked again). So the journal names the tools behind every model request:
 * those of the last `tools` event before its model_response. Without MCP servers the set is
 * fixed by the stored policy and is not journaled. */
static cn_status sync_tools(run_ctx *c, cn_error *err) {
    cn_status s = cn_toolbox_refresh(c->tools, err);
    if (s != CN_OK || !c->has_mcp) return s;
    cJSON *tools = tools_array(c->tools);
    char *json = tools ? cJSON_PrintUnformatted(tools) : NULL;
    if (!json) {
        cJSON_Delete(tools);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    unsigned char hash[CN_AUDIT_HASH_BYTES];
    crypto_hash_sha256(hash, (const unsigned char *)json, strlen(json));
    free(json);
    char hex[2 * CN_AUDIT_HASH_BYTES + 1];
    cn_audit_hex(hash, CN_AUDIT_HASH_BYTES, hex);
    bool first = !c->tools_synced;
    c->tools_synced = true;
    if (!strcmp(hex, c->tools_sha256)) {
        cJSON_Delete(tools);
        return CN_OK;
    }
    const char *reason = !c->tools_sha256[0] ? "start" : first && c->resuming ? "resumed" : "list_changed";
    if (c->progress && c->tools_sha256[0])
        fprintf(c->progress, "tool set changed (%s): %d tool(s)\n", reason, cJSON_GetArraySize(tools));
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "sha256", hex);
    cJSON_AddItemToObject(ev, "tools", tools);
    if ((s = cn_journal_begin(c->j, err)) == CN_OK) {
        s = append_json(c, "tools", ev, NULL, 0, err);
        if (s == CN_OK) s = cn_journal_commit(c->j, err);
        else cn_journal_rollback(c->j);
    }
    cJSON_Delete(ev);
    if (s == CN_OK) memcpy(c->tools_sha256, hex, sizeof hex);
    return s;
}

/* The sha256 of the tool set the journal recorded last ("" when none). */
static cn_status load_tools_digest(run_ctx *c, cn_error *err) {
    sqlite3_stmt *st;
    c->tools_sha256[0] = 0;
    if (cn_journal_prepare(c->j, "SELECT payload FROM events WHERE kind = 'tools' ORDER BY seq DESC LIMIT 1", &st,
                           err) != CN_OK)
        return err->code;
    if (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *ev = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(ev, "sha256");
        if (cJSON_IsString(sha)) snprintf(c->tools_sha256, sizeof c->tools_sha256, "%s", sha->valuestring);
        cJSON_Delete(ev);
    }
    sqlite3_finalize(st);
    return CN_OK;
}

static char *build_request(run_ctx *c, unsigned char hash[CN_AUDIT_HASH_BYTES], cn_error *err) {
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", c->row.model);
    cJSON *messages = cJSON_AddArrayToObject(req, "messages");
    sqlite3_stmt *st;
    if (cn_journal_prepare(c->j, "SELECT json FROM messages ORDER BY idx", &st, err) != CN_OK) {
        cJSON_Delete(req);
        return NULL;
    }
    c->request_messages_bytes = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        c->request_messages_bytes += sqlite3_column_bytes(st, 0);
        cJSON *m = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        if (m) cJSON_AddItemToArray(messages, m);
    }
    sqlite3_finalize(st);
    cJSON_AddItemToObject(req, "tools", tools_array(c->tools));
    cJSON_AddStringToObject(req, "tool_choice", "auto");
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (!body) cn_fail(err, CN_ERR_NOMEM, "out of memory");
    else crypto_hash_sha256(hash, (const unsigned char *)body, strlen(body));
    return body;
}

/* The reply's tokens: its usage, or 4 bytes per token of the request and the message when the
 * endpoint reported none (context.h). */
static void reply_tokens(const cn_model_reply *r, size_t request_len, int64_t *prompt, int64_t *completion) {
    *prompt = r->usage_reported ? r->prompt_tokens : (int64_t)(request_len + 3) / 4;
    *completion = r->usage_reported ? r->completion_tokens : (int64_t)(strlen(r->message_json) + 3) / 4;
}

static cn_status commit_model_reply(run_ctx *c, const unsigned char req_hash[CN_AUDIT_HASH_BYTES], const cn_model_reply *r,
                                    size_t request_len, cn_error *err) {
    int64_t prompt, completion;
    reply_tokens(r, request_len, &prompt, &completion);
    cn_status s = cn_journal_begin(c->j, err);
    if (s != CN_OK) return s;
    cJSON *ev = cJSON_CreateObject();
    char hex[2 * CN_AUDIT_HASH_BYTES + 1];
    cn_audit_hex(req_hash, CN_AUDIT_HASH_BYTES, hex);
    cJSON_AddNumberToObject(ev, "step", (double)(c->row.steps + 1));
    cJSON_AddStringToObject(ev, "request_sha256", hex);
    cJSON_AddItemToObject(ev, "message", cJSON_Parse(r->message_json));
    if (r->finish_reason) cJSON_AddStringToObject(ev, "finish_reason", r->finish_reason);
    cJSON_AddNumberToObject(ev, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(ev, "completion_tokens", (double)completion);
    if (!r->usage_reported) cJSON_AddBoolToObject(ev, "tokens_estimated", true);
    static const char *const sensitive[] = {"message"};
    s = append_json(c, "model_response", ev, sensitive, 1, err);
    if (s == CN_OK)
        s = cn_context_account(c->j, prompt, completion, !r->usage_reported, c->request_messages_bytes, err);
    cJSON_Delete(ev);
    if (s == CN_OK) s = add_message(c->j, r->message_json, err);
    for (size_t i = 0; i < r->n_calls && s == CN_OK; i++) {
        sqlite3_stmt *st;
        s = cn_journal_prepare(c->j,
                               "INSERT INTO tool_calls(ord, step, call_id, name, arguments, arguments_error, state)"
                               " VALUES((SELECT COALESCE(MAX(ord), 0) + 1 FROM tool_calls), ?, ?, ?, ?, ?, 'pending')",
                               &st, err);
        if (s != CN_OK) break;
        sqlite3_bind_int64(st, 1, c->row.steps + 1);
        sqlite3_bind_text(st, 2, r->calls[i].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->calls[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->calls[i].arguments, -1, SQLITE_STATIC);
        if (r->calls[i].arguments_error) sqlite3_bind_text(st, 5, r->calls[i].arguments_error, -1, SQLITE_STATIC);
        else sqlite3_bind_null(st, 5);
        s = cn_journal_step_done(c->j, st, err);
    }
    if (s == CN_OK) {
        sqlite3_stmt *st;
        s = cn_journal_prepare(c->j, "UPDATE run SET steps = steps + 1, tokens = tokens + ? WHERE id = 1", &st, err);
        if (s == CN_OK) {
            sqlite3_bind_int64(st, 1, prompt + completion);
            s = cn_journal_step_done(c->j, st, err);
        }
    }
    if (s == CN_OK) s = cn_journal_commit(c->j, err);
    else cn_journal_rollback(c->j);
    if (s == CN_OK) {
        c->row.steps++;
        c->row.tokens += prompt + completion;
        if (c->progress) fprintf(c->progress, "step %lld: %zu tool call(s)\n", (long long)c->row.steps, r->n_calls);
    }
    return s;
}

/* Returns the status to end with when a budget is spent, or NULL. */
static const char *budget_spent(const run_ctx *c, char *reason, size_t size) {
    const run_row *r = &c->row;
    if (r->deadline > 0 && (double)time(NULL) >= r->deadline) {
        snprintf(reason, size, "the deadline passed");
        return "deadline_exceeded";
    }
    if (r->max_steps > 0 && r->steps >= r->max_steps) {
        snprintf(reason, size, "max steps (%lld) used", (long long)r->max_steps);
        return "budget_exhausted";
    }
    if (r->max_tokens > 0 && r->tokens >= r->max_tokens) {
        snprintf(reason, size, "max tokens (%lld) used", (long long)r->max_tokens);
        return "budget_exhausted";
    }
    if (r->max_tool_calls > 0 && r->tool_calls >= r->max_tool_calls) {
        snprintf(reason, size, "max tool calls (%lld) used", (long long)r->max_tool_calls);
        return "budget_exhausted";
    }
    return NULL;
}

/* One model request; transient failures (connection refused, 5xx) get two more tries. */
static cn_status ask_model(run_ctx *c, const char *body, cn_model_reply *reply, cn_error *err) {
    cn_status s = CN_ERR_IO;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt) sleep((unsigned)attempt);
        s = cn_model_chat(&c->model, body, strlen(body), reply, err);
        if (s == CN_OK || s == CN_ERR_FORMAT) break;
    }
    return s;
}

static cn_status model_step(run_ctx *c, bool *done, cn_error *err) {
    unsigned char hash[CN_AUDIT_HASH_BYTES];
    char *body = build_request(c, hash, err);
    if (!body) return err ? err->code : CN_ERR_NOMEM;
    size_t body_len = strlen(body);
    cn_model_reply reply;
    cn_status s = ask_model(c, body, &reply, err);
    free(body);
    if (s != CN_OK) return s;
    s = commit_model_reply(c, hash, &reply, body_len, err);
    *done = s == CN_OK && reply.n_calls == 0;
    cn_model_reply_free(&reply);
    return s;
}

/* Compaction (context.h): asks the model for a summary of the turns between the pinned blocks
 * and the recent tail, then, in one transaction, journals it (event `compaction`) and rebuilds
 * the conversation. A crash before that commit leaves the conversation as it was and the summary
 * is asked again; the tokens count against the run's budget like any model call. */
static cn_status compact(run_ctx *c, cn_error *err) {
    cn_compaction plan;
    bool needed;
    cn_status s = cn_context_plan(c->j, c->row.model, c->context_tokens, &needed, &plan, err);
    if (s != CN_OK || !needed) return s;
    unsigned char hash[CN_AUDIT_HASH_BYTES];
    size_t body_len = strlen(plan.request_body);
    crypto_hash_sha256(hash, (const unsigned char *)plan.request_body, body_len);
    cn_model_reply reply;
    s = ask_model(c, plan.request_body, &reply, err);
    cn_compaction_free(&plan);
    if (s != CN_OK) return s;
    int64_t prompt, completion;
    reply_tokens(&reply, body_len, &prompt, &completion);
    const char *summary = reply.content && reply.content[0] ? reply.content : "(the model wrote an empty summary)";
    if ((s = cn_journal_begin(c->j, err)) != CN_OK) {
        cn_model_reply_free(&reply);
        return s;
    }
    int64_t messages_before = 0;
    sqlite3_stmt *st;
    if (cn_journal_prepare(c->j, "SELECT COUNT(*) FROM messages", &st, err) == CN_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) messages_before = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    cJSON *ev = cJSON_CreateObject();
    char hex[2 * CN_AUDIT_HASH_BYTES + 1];
    cn_audit_hex(hash, CN_AUDIT_HASH_BYTES, hex);
    cJSON_AddNumberToObject(ev, "after_step", (double)c->row.steps);
    cJSON_AddStringToObject(ev, "request_sha256", hex);
    cJSON_AddStringToObject(ev, "summary", summary);
    cJSON_AddNumberToObject(ev, "summarized_messages", (double)plan.summarized);
    cJSON_AddNumberToObject(ev, "messages_before", (double)messages_before);
    cJSON_AddNumberToObject(ev, "tokens_before", (double)plan.tokens_before);
    cJSON_AddNumberToObject(ev, "budget_tokens", (double)c->context_tokens);
    cJSON_AddNumberToObject(ev, "prompt_tokens", (double)prompt);
    cJSON_AddNumberToObject(ev, "completion_tokens", (double)completion);
    if (!reply.usage_reported) cJSON_AddBoolToObject(ev, "tokens_estimated", true);
    static const char *const sensitive[] = {"summary"};
    s = append_json(c, "compaction", ev, sensitive, 1, err);
    cJSON_Delete(ev);
    if (s == CN_OK) s = cn_context_apply(c->j, &plan, summary, err);
    if (s == CN_OK) s = cn_context_account(c->j, prompt, completion, !reply.usage_reported, 0, err);
    if (s == CN_OK && (s = cn_journal_prepare(c->j, "UPDATE run SET tokens = tokens + ? WHERE id = 1", &st, err)) == CN_OK) {
        sqlite3_bind_int64(st, 1, prompt + completion);
        s = cn_journal_step_done(c->j, st, err);
    }
    /* The summary reply is not the conversation's last prompt: estimate by bytes until the next. */
    if (s == CN_OK) s = cn_journal_exec(c->j, "UPDATE context_state SET last_prompt_tokens = 0 WHERE id = 1", err);
    if (s == CN_OK) s = cn_journal_commit(c->j, err);
    else cn_journal_rollback(c->j);
    cn_model_reply_free(&reply);
    if (s == CN_OK) {
        c->row.tokens += prompt + completion;
        if (c->progress)
            fprintf(c->progress, "compacted %lld messages into a summary (about %lld tokens before)\n",
                    (long long)plan.summarized, (long long)plan.tokens_before);
    }
    return s;
}

static char *read_key_file(const char *path, cn_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cn_fail(err, CN_ERR_IO, "cannot read API key file %s", path);
        return NULL;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
    buf[n] = 0;
    return strdup(buf);
}

static cn_status mark_resumed(run_ctx *c, cn_error *err) {
    cn_status s = cn_journal_begin(c->j, err);
    if (s != CN_OK) return s;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "previous_status", c->row.status);
    s = append_json(c, "resume", ev, NULL, 0, err);
    cJSON_Delete(ev);
    if (s == CN_OK) s = cn_journal_exec(c->j, "UPDATE run SET status = 'running' WHERE id = 1", err);
    if (s == CN_OK) s = cn_journal_commit(c->j, err);
    else cn_journal_rollback(c->j);
    if (s == CN_OK) snprintf(c->row.status, sizeof c->row.status, "running");
    return s;
}

/* Journals this process as the run's runner (after removing the write temporaries that earlier
 * runners of this run, all killed or gone since we hold the run lock, may have left). */
static cn_status record_runner(run_ctx *c, cn_error *err) {
    int64_t pids[256];
    size_t n = 0;
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(c->j, "SELECT DISTINCT pid FROM runners ORDER BY seq DESC LIMIT 256", &st, err);
    if (s != CN_OK) return s;
    while (n < sizeof pids / sizeof pids[0] && sqlite3_step(st) == SQLITE_ROW) pids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    int64_t removed = 0, archive_leftovers = 0;
    if ((s = cn_runner_clean_temporaries(&c->ws, pids, n, &removed, err)) != CN_OK) return s;
    /* An archive file a kill left before its commit (journal_archive.h): the rows are still live. */
    if ((s = cn_archive_clean(c->j, c->run_dir, &archive_leftovers, err)) != CN_OK) return s;
    cn_runner_identity me;
    cn_runner_self(&me);
    if ((s = cn_journal_begin(c->j, err)) != CN_OK) return s;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddNumberToObject(ev, "pid", (double)me.pid);
    cJSON_AddStringToObject(ev, "boot_id", me.boot_id);
    cJSON_AddNumberToObject(ev, "start_ticks", (double)me.start_ticks);
    cJSON_AddNumberToObject(ev, "removed_temporaries", (double)removed);
    if (archive_leftovers) cJSON_AddNumberToObject(ev, "removed_archive_leftovers", (double)archive_leftovers);
    s = append_json(c, "runner_start", ev, NULL, 0, err);
    cJSON_Delete(ev);
    if (s == CN_OK)
        s = cn_journal_prepare(c->j, "INSERT INTO runners(pid, boot_id, start_ticks, started) VALUES(?, ?, ?, ?)", &st, err);
    if (s == CN_OK) {
        sqlite3_bind_int64(st, 1, me.pid);
        sqlite3_bind_text(st, 2, me.boot_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, me.start_ticks);
        sqlite3_bind_double(st, 4, (double)time(NULL));
        s = cn_journal_step_done(c->j, st, err);
    }
    if (s == CN_OK) s = cn_journal_commit(c->j, err);
    else cn_journal_rollback(c->j);
    if (s == CN_OK && removed && c->progress)
        fprintf(c->progress, "removed %lld temporary file(s) left in the workspace by a killed runner\n", (long long)removed);
    return s;
}

bool cn_agent_last_runner(cn_journal *j, cn_runner_identity *id) {
    sqlite3_stmt *st;
    cn_error e = {0};
    memset(id, 0, sizeof *id);
    if (cn_journal_prepare(j, "SELECT pid, boot_id, start_ticks FROM runners ORDER BY seq DESC LIMIT 1", &st, &e) != CN_OK)
        return false;
    bool found = sqlite3_step(st) == SQLITE_ROW;
    if (found) {
        id->pid = sqlite3_column_int64(st, 0);
        const unsigned char *b = sqlite3_column_text(st, 1);
        snprintf(id->boot_id, sizeof id->boot_id, "%s", b ? (const char *)b : "");
        id->start_ticks = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return found;
}

/* True when the last journaled step is a final answer (a model reply with no tool calls): only a
 * runner killed between that commit and its run_end leaves a running run in this state. */
static bool last_step_was_final_answer(run_ctx *c) {
    if (c->row.steps == 0) return false;
    sqlite3_stmt *st;
    cn_error e = {0};
    if (cn_journal_prepare(c->j, "SELECT COUNT(*) FROM tool_calls WHERE step = ?", &st, &e) != CN_OK) return false;
    sqlite3_bind_int64(st, 1, c->row.steps);
    bool final = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 0;
    sqlite3_finalize(st);
    return final;
}

static cn_status loop(run_ctx *c, cn_error *err) {
    char reason[400];
    for (bool first = true;; first = false) {
        cn_status s = load_run_row(c->j, &c->row, err);
        if (s != CN_OK) return s;
        /* Resumed after a final answer was committed: end as the uninterrupted run did, without
         * asking the model for another step (spec: an answered step is never asked again). */
        if (first && !strcmp(c->row.status, "running") && last_step_was_final_answer(c))
            return end_run(c, "finished", "the model answered without tool calls", err);
        if (strcmp(c->row.status, "running") != 0) {
            /* Stopped from outside: sign what this process appended after the stop event. */
            if ((s = cn_journal_begin(c->j, err)) != CN_OK) return s;
            if ((s = cn_journal_checkpoint(c->j, err)) == CN_OK) s = cn_journal_commit(c->j, err);
            else cn_journal_rollback(c->j);
            return s;
        }
        /* Between steps, outside any transaction: the journal's old events into an archive file. */
        int64_t archived = 0;
        if ((s = cn_archive_maybe(c->j, c->run_dir, c->archive_events, &archived, err)) != CN_OK) return s;
        if (archived && c->progress) fprintf(c->progress, "archived %lld journal events\n", (long long)archived);
        if (cn_loop_guard_tripped(c->j, c->row.loop_limit, c->drift_limit, reason, sizeof reason))
            return end_run(c, "stuck", reason, err);
        call_row call;
        if (next_open_call(c, &call)) {
            const char *why = budget_spent(c, reason, sizeof reason);
            s = why ? end_run(c, why, reason, err) : handle_call(c, &call, err);
            call_row_free(&call);
            if (s != CN_OK || why) return s;
            continue;
        }
        const char *why = budget_spent(c, reason, sizeof reason);
        if (why) return end_run(c, why, reason, err);
        bool done = false;
        s = CN_OK;
        s = sync_tools(c, err);
        if (s == CN_OK && c->context_tokens > 0 && cn_context_estimate(c->j) > c->context_tokens) s = compact(c, err);
        if (s == CN_OK) s = model_step(c, &done, err);
        if (s != CN_OK) {
            cn_error e2 = {0};
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            if (end_run(c, "failed", msg, &e2) != CN_OK) return s;
            return CN_OK;
        }
        if (done) return end_run(c, "finished", "the model answered without tool calls", err);
    }
}

static cn_status build_tools(run_ctx *c, cn_error *err) {
    char *mcp_setting = get_setting(c->j, "mcp_config", err);
    if (!mcp_setting) return err->code;
    c->has_mcp = mcp_setting[0] != 0;
    free(mcp_setting);
    cn_status s = CN_OK;
    if (!c->tools) { /* else handed over by the caller, built from the same settings */
        char *policy = get_setting(c->j, "policy", err), *mcp = policy ? get_setting(c->j, "mcp_config", err) : NULL;
        s = mcp ? cn_run_tools_build(&(cn_run_tools_config){.policy_json = policy, .mcp_config_json = mcp,
                                                            .workspace = c->ws.root, .progress = c->progress,
                                                            .call_timeout_s = &c->call_timeout_s},
                                     &c->tools, err)
                : err->code;
        free(policy);
        free(mcp);
    }
    if (s == CN_OK) s = load_tools_digest(c, err);
    /* The runtime's own tools come after the configured ones, in a fixed order. */
    if (s == CN_OK) s = cn_plan_add_tool(c->tools, err);
    if (s == CN_OK) s = cn_artifacts_add_tool(c->tools, c->run_dir, err);
    /* Settings absent from older journals read as "" = off. */
    static const char *const keys[] = {"drift_limit", "context_tokens", "spill_bytes", "archive_events"};
    int64_t values[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < 4 && s == CN_OK; i++) {
        char *v = get_setting(c->j, keys[i], err);
        if (!v) s = err->code;
        /* Archiving changes where old events are kept, not what the run does: journals from
         * before it get the default. */
        else if (!v[0] && !strcmp(keys[i], "archive_events")) values[i] = CN_ARCHIVE_DEFAULT_EVENTS;
        else values[i] = strtoll(v, NULL, 10);
        free(v);
    }
    c->drift_limit = (int)values[0];
    c->context_tokens = values[1];
    c->spill_bytes = values[2];
    c->archive_events = values[3];
    return s;
}

cn_status cn_agent_run_execute(const char *run_dir, const char *run_id, bool resuming, const cn_agent_exec_options *o,
                               char status[CN_AGENT_STATUS_MAX], cn_error *err) {
    run_ctx c = {.progress = o->progress, .ws.root_fd = -1, .run_dir = run_dir, .tools = o->tools,
                 .call_timeout_s = o->tools_call_timeout_s, .resuming = resuming};
    int lock_fd = -1;
    cn_status s = cn_runner_lock(run_dir, run_id, &lock_fd, err);
    if (s != CN_OK) {
        cn_toolbox_destroy(c.tools);
        return s;
    }
    if ((s = cn_agent_journal_open(run_dir, run_id, o->checkpoint_every, &c.j, err)) != CN_OK) {
        cn_toolbox_destroy(c.tools);
        cn_runner_unlock(lock_fd);
        return s;
    }
    if (o->commit_hook) cn_journal_set_commit_hook(c.j, o->commit_hook, o->commit_hook_ctx);
    if ((s = load_run_row(c.j, &c.row, err)) != CN_OK) goto done;
    if (resuming) {
        if (!strcmp(c.row.status, "finished") || !strcmp(c.row.status, "stuck") ||
            !strcmp(c.row.status, "budget_exhausted") || !strcmp(c.row.status, "deadline_exceeded")) {
            goto done; /* nothing left to do: resuming an ended run reports how it ended */
        }
        if ((s = mark_resumed(&c, err)) != CN_OK) goto done;
    }
    if ((s = cn_workspace_open(c.row.workspace, &c.ws, err)) != CN_OK) goto done;
    if ((s = record_runner(&c, err)) != CN_OK) goto done;
    if ((s = build_tools(&c, err)) != CN_OK) goto done;
    if (c.row.api_key_file[0] && !(c.api_key = read_key_file(c.row.api_key_file, err))) {
        s = err->code;
        goto done;
    }
    if (!(c.model_url = strdup(c.row.model_url))) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto done;
    }
    c.model = (cn_model_client_config){.base_url = c.model_url, .api_key = c.api_key,
                                       .timeout_s = o->model_timeout_s, .connect_timeout_s = 10};
    s = loop(&c, err);
done:
    snprintf(status, CN_AGENT_STATUS_MAX, "%s", c.row.status);
    if (c.api_key) sodium_memzero(c.api_key, strlen(c.api_key));
    free(c.api_key);
    free(c.model_url);
    cn_toolbox_destroy(c.tools);
    cn_workspace_close(&c.ws);
    run_row_free(&c.row);
    cn_journal_close(c.j);
    cn_runner_unlock(lock_fd);
    return s;
}

cn_status cn_agent_run_stop(const char *run_dir, const char *run_id, cn_error *err) {
    cn_journal *j;
    cn_status s = cn_agent_journal_open(run_dir, run_id, 0, &j, err);
    if (s != CN_OK) return s;
    run_ctx c = {.j = j};
    if ((s = cn_journal_begin(j, err)) == CN_OK && (s = load_run_row(j, &c.row, err)) == CN_OK) {
        if (strcmp(c.row.status, "running") != 0) {
            s = cn_fail(err, CN_ERR_ARG, "run %s is not running (status %s)", run_id, c.row.status);
        } else {
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "requested_by", "agent stop");
            s = append_json(&c, "stop_requested", ev, NULL, 0, err);
            cJSON_Delete(ev);
            if (s == CN_OK)
                s = cn_journal_exec(j, "UPDATE run SET status = 'stopped', reason = 'agent stop' WHERE id = 1", err);
            if (s == CN_OK) s = cn_journal_checkpoint(j, err);
        }
    }
    if (s == CN_OK) s = cn_journal_commit(j, err);
    else cn_journal_rollback(j);
    run_row_free(&c.row);
    cn_journal_close(j);
    return s;
}
