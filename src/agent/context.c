/* Token accounting and compaction of the conversation (context.h). */
#include "agent/context.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plan.h"

#define ITEM_MAX 1200   /* bytes of one message (or tool call) kept in the transcript */
#define BYTES_PER_TOKEN 4

static const char context_schema[] =
    "CREATE TABLE IF NOT EXISTS message_meta(idx INTEGER PRIMARY KEY, kind TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS context_state(id INTEGER PRIMARY KEY CHECK(id = 1), prompt_tokens INTEGER,"
    " completion_tokens INTEGER, estimated_replies INTEGER, last_prompt_tokens INTEGER, bytes_at_last INTEGER,"
    " compactions INTEGER);"
    "INSERT OR IGNORE INTO context_state VALUES(1, 0, 0, 0, 0, 0, 0);";

static const char summary_instruction[] =
    "Your conversation is being compacted: the transcript below (your earlier turns, tool calls and results, and "
    "any earlier summary) will be replaced by the summary you write now. The system prompt, the task and your plan "
    "are kept verbatim, so do not repeat them. Write a concise summary for yourself to continue the task: what has "
    "been done and found (files, facts, numbers), what failed and why, and what remains. Answer with the summary "
    "text only.\n\nTranscript:\n";

static const char summary_prefix[] =
    "Summary of the earlier conversation (written by you when the context was compacted; the task and plan above "
    "are kept verbatim):\n";

cn_status cn_context_schema(cn_journal *j, cn_error *err) { return cn_journal_exec(j, context_schema, err); }

cn_status cn_context_mark(cn_journal *j, int64_t idx, const char *kind, cn_error *err) {
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, "INSERT OR REPLACE INTO message_meta(idx, kind) VALUES(?, ?)", &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_int64(st, 1, idx);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    return cn_journal_step_done(j, st, err);
}

static int64_t query_int(cn_journal *j, const char *sql) {
    sqlite3_stmt *st;
    cn_error e = {0};
    if (cn_journal_prepare(j, sql, &st, &e) != CN_OK) return 0;
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return v;
}

cn_status cn_context_account(cn_journal *j, int64_t prompt_tokens, int64_t completion_tokens, bool estimated,
                             int64_t request_messages_bytes, cn_error *err) {
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j,
                                     "UPDATE context_state SET prompt_tokens = prompt_tokens + ?1,"
                                     " completion_tokens = completion_tokens + ?2, estimated_replies = estimated_replies + ?3,"
                                     " last_prompt_tokens = ?1, bytes_at_last = ?4 WHERE id = 1",
                                     &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_int64(st, 1, prompt_tokens);
    sqlite3_bind_int64(st, 2, completion_tokens);
    sqlite3_bind_int(st, 3, estimated ? 1 : 0);
    sqlite3_bind_int64(st, 4, request_messages_bytes);
    return cn_journal_step_done(j, st, err);
}

int64_t cn_context_estimate(cn_journal *j) {
    int64_t bytes = query_int(j, "SELECT COALESCE(SUM(length(json)), 0) FROM messages");
    sqlite3_stmt *st;
    cn_error e = {0};
    int64_t last = 0, at_last = 0;
    if (cn_journal_prepare(j, "SELECT last_prompt_tokens, bytes_at_last FROM context_state WHERE id = 1", &st, &e) == CN_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            last = sqlite3_column_int64(st, 0);
            at_last = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    int64_t by_bytes = bytes / BYTES_PER_TOKEN;
    int64_t by_usage = last > 0 && bytes >= at_last ? last + (bytes - at_last) / BYTES_PER_TOKEN : 0;
    return by_usage > by_bytes ? by_usage : by_bytes;
}

/* ---- transcript ---- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} text_buf;

static void put(text_buf *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void put_str(text_buf *t, const char *s) { put(t, s, strlen(s)); }

/* At most ITEM_MAX bytes of s (cut on a UTF-8 boundary), with a note of what was cut. */
static void put_clipped(text_buf *t, const char *s) {
    size_t n = strlen(s);
    if (n <= ITEM_MAX) {
        put(t, s, n);
        return;
    }
    size_t cut = ITEM_MAX;
    while (cut > ITEM_MAX - 4 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    put(t, s, cut);
    char note[64];
    snprintf(note, sizeof note, " [... %zu more bytes]", n - cut);
    put_str(t, note);
}

static void render_message(text_buf *t, const cJSON *m) {
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    const char *r = cJSON_IsString(role) ? role->valuestring : "?";
    const char *text = cJSON_IsString(content) ? content->valuestring : "";
    if (!strcmp(r, "tool")) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
        put_str(t, "  result [");
        put_str(t, cJSON_IsString(id) ? id->valuestring : "");
        put_str(t, "]: ");
        put_clipped(t, text);
        put_str(t, "\n");
        return;
    }
    if (!strncmp(text, summary_prefix, sizeof summary_prefix - 1)) {
        put_str(t, "earlier summary: ");
        put_clipped(t, text + sizeof summary_prefix - 1);
        put_str(t, "\n");
        return;
    }
    put_str(t, r);
    put_str(t, ": ");
    put_clipped(t, text);
    put_str(t, "\n");
    const cJSON *call;
    cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(m, "tool_calls")) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
        put_str(t, "  called ");
        put_str(t, cJSON_IsString(name) ? name->valuestring : "?");
        put_str(t, " [");
        put_str(t, cJSON_IsString(id) ? id->valuestring : "");
        put_str(t, "] ");
        put_clipped(t, cJSON_IsString(args) ? args->valuestring : "");
        put_str(t, "\n");
    }
}

/* ---- planning ---- */

typedef struct {
    int64_t idx;
    char *json;
    char kind[16]; /* "" for conversation messages */
    bool turn_start; /* an assistant message: where a tail may begin */
} msg_row;

static void rows_free(msg_row *rows, size_t n) {
    for (size_t i = 0; i < n; i++) free(rows[i].json);
    free(rows);
}

static cn_status load_rows(cn_journal *j, msg_row **out, size_t *n_out, cn_error *err) {
    *out = NULL;
    *n_out = 0;
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j,
                                     "SELECT m.idx, m.json, COALESCE(k.kind, '') FROM messages m"
                                     " LEFT JOIN message_meta k ON k.idx = m.idx ORDER BY m.idx",
                                     &st, err);
    if (s != CN_OK) return s;
    size_t n = 0, cap = 0;
    msg_row *rows = NULL;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            msg_row *grown = realloc(rows, cap * sizeof *rows);
            if (!grown) {
                s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
                break;
            }
            rows = grown;
        }
        msg_row *r = &rows[n];
        r->idx = sqlite3_column_int64(st, 0);
        r->json = strdup((const char *)sqlite3_column_text(st, 1));
        snprintf(r->kind, sizeof r->kind, "%s", (const char *)sqlite3_column_text(st, 2));
        n++;
        if (!r->json) {
            s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
            break;
        }
        cJSON *m = cJSON_Parse(r->json);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        r->turn_start = cJSON_IsString(role) && !strcmp(role->valuestring, "assistant");
        cJSON_Delete(m);
    }
    sqlite3_finalize(st);
    /* A journal from before message_meta: its first two messages are the system prompt and task. */
    bool any_meta = false;
    for (size_t i = 0; i < n; i++) any_meta |= rows[i].kind[0] != 0;
    for (size_t i = 0; i < n && i < 2 && !any_meta; i++) snprintf(rows[i].kind, sizeof rows[i].kind, i ? "task" : "system");
    if (s != CN_OK) {
        rows_free(rows, n);
        return s;
    }
    *out = rows;
    *n_out = n;
    return CN_OK;
}

static bool pinned(const msg_row *r) {
    return !strcmp(r->kind, "system") || !strcmp(r->kind, "task") || !strcmp(r->kind, "plan");
}

cn_status cn_context_plan(cn_journal *j, const char *model, int64_t budget_tokens, bool *needed, cn_compaction *out,
                          cn_error *err) {
    memset(out, 0, sizeof *out);
    *needed = false;
    msg_row *rows;
    size_t n;
    cn_status s = load_rows(j, &rows, &n, err);
    if (s != CN_OK) return s;
    /* The tail: whole turns from the end while they fit a quarter of the budget; at least one. */
    size_t tail = n, tail_bytes = 0, limit = (size_t)(budget_tokens * BYTES_PER_TOKEN / 4);
    for (size_t i = n; i-- > 0;) {
        if (pinned(&rows[i]) || rows[i].kind[0]) break;
        tail_bytes += strlen(rows[i].json);
        if (rows[i].turn_start) {
            if (tail < n && tail_bytes > limit) break;
            tail = i;
        }
    }
    /* What the summary replaces: every non-pinned message before the tail; worth a model call only
     * when it holds at least one turn (not just the previous summary). */
    int64_t middle = 0, middle_turns = 0;
    for (size_t i = 0; i < tail; i++)
        if (!pinned(&rows[i])) middle++, middle_turns += rows[i].turn_start;
    if (middle_turns == 0 || tail == n) {
        rows_free(rows, n);
        return CN_OK;
    }
    text_buf transcript = {0};
    put_str(&transcript, summary_instruction);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", model);
    cJSON *messages = cJSON_AddArrayToObject(req, "messages");
    for (size_t i = 0; i < tail; i++) {
        cJSON *m = cJSON_Parse(rows[i].json);
        if (!m) continue;
        if (pinned(&rows[i])) cJSON_AddItemToArray(messages, m);
        else {
            render_message(&transcript, m);
            cJSON_Delete(m);
        }
    }
    cJSON *ask = cJSON_CreateObject();
    cJSON_AddStringToObject(ask, "role", "user");
    cJSON_AddStringToObject(ask, "content", transcript.buf ? transcript.buf : "");
    cJSON_AddItemToArray(messages, ask);
    out->request_body = transcript.failed ? NULL : cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    free(transcript.buf);
    out->tail_from_idx = rows[tail].idx;
    out->summarized = middle;
    out->tokens_before = cn_context_estimate(j);
    rows_free(rows, n);
    if (!out->request_body) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    *needed = true;
    return CN_OK;
}

static cn_status insert_message(cn_journal *j, int64_t idx, const char *json, const char *kind, cn_error *err) {
    sqlite3_stmt *st;
    cn_status s = cn_journal_prepare(j, "INSERT INTO messages(idx, json) VALUES(?, ?)", &st, err);
    if (s != CN_OK) return s;
    sqlite3_bind_int64(st, 1, idx);
    sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
    if ((s = cn_journal_step_done(j, st, err)) != CN_OK) return s;
    return kind ? cn_context_mark(j, idx, kind, err) : CN_OK;
}

static char *user_message(const char *prefix, const char *text) {
    size_t n = strlen(prefix) + strlen(text) + 1;
    char *content = malloc(n);
    if (!content) return NULL;
    snprintf(content, n, "%s%s", prefix, text);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", content);
    free(content);
    char *json = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return json;
}

cn_status cn_context_apply(cn_journal *j, const cn_compaction *c, const char *summary, cn_error *err) {
    msg_row *rows;
    size_t n;
    cn_status s = load_rows(j, &rows, &n, err);
    if (s != CN_OK) return s;
    char *plan_text = cn_plan_render(j);
    char *plan_json = plan_text ? user_message("", plan_text) : NULL;
    char *summary_json = user_message(summary_prefix, summary);
    free(plan_text);
    if (!summary_json || (plan_text && !plan_json)) s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
    if (s == CN_OK) s = cn_journal_exec(j, "DELETE FROM messages; DELETE FROM message_meta;", err);
    int64_t idx = 0;
    /* Pinned blocks first, in their order (the old plan block is replaced by the current plan). */
    for (size_t i = 0; i < n && s == CN_OK; i++)
        if (!strcmp(rows[i].kind, "system") || !strcmp(rows[i].kind, "task"))
            s = insert_message(j, ++idx, rows[i].json, rows[i].kind, err);
    if (s == CN_OK && plan_json) s = insert_message(j, ++idx, plan_json, "plan", err);
    if (s == CN_OK) s = insert_message(j, ++idx, summary_json, "summary", err);
    for (size_t i = 0; i < n && s == CN_OK; i++)
        if (rows[i].idx >= c->tail_from_idx && !pinned(&rows[i])) s = insert_message(j, ++idx, rows[i].json, NULL, err);
    /* Finished calls are needed by nothing once their results are in messages; the newest row is
     * kept so call numbering (artifact ids) keeps increasing. */
    if (s == CN_OK)
        s = cn_journal_exec(j,
                            "DELETE FROM tool_calls WHERE state = 'done' AND ord < (SELECT MAX(ord) FROM tool_calls);"
                            "UPDATE context_state SET compactions = compactions + 1, last_prompt_tokens = 0 WHERE id = 1;",
                            err);
    free(plan_json);
    free(summary_json);
    rows_free(rows, n);
    return s;
}

void cn_compaction_free(cn_compaction *c) {
    free(c->request_body);
    c->request_body = NULL;
}
