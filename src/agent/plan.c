/* The update_plan tool and the plan tables (plan.h). */
#include "agent/plan.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char plan_schema[] =
    "CREATE TABLE IF NOT EXISTS plan(idx INTEGER PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS plan_done(title TEXT PRIMARY KEY);";

cn_status cn_plan_schema(cn_journal *j, cn_error *err) { return cn_journal_exec(j, plan_schema, err); }

/* Checks the steps array again inside the tool: the schema check before dispatch (tool_schema.c) covers the
 * shape and the status enum, but not the sizes, and a tool must not depend on its caller having checked. */
static const char *check_steps(const cJSON *steps) {
    if (!cJSON_IsArray(steps)) return "steps must be an array";
    if (cJSON_GetArraySize(steps) > CN_PLAN_MAX_STEPS) return "a plan has at most 50 steps";
    const cJSON *s;
    cJSON_ArrayForEach(s, steps) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "title"), *st = cJSON_GetObjectItemCaseSensitive(s, "status");
        if (!cJSON_IsObject(s) || !cJSON_IsString(t) || !cJSON_IsString(st))
            return "each step must be {\"title\": string, \"status\": \"pending\" | \"in_progress\" | \"done\"}";
        if (!t->valuestring[0] || strlen(t->valuestring) > CN_PLAN_MAX_TITLE) return "a step title must be 1-300 characters";
        if (strcmp(st->valuestring, "pending") && strcmp(st->valuestring, "in_progress") && strcmp(st->valuestring, "done"))
            return "a step status must be pending, in_progress or done";
    }
    return NULL;
}

static cn_status tool_update_plan(const cn_tool *self, const cn_tool_env *env, const cJSON *args, cn_tool_result *r,
                                  cn_error *err) {
    (void)self;
    (void)env;
    (void)err;
    const char *problem = check_steps(cJSON_GetObjectItemCaseSensitive(args, "steps"));
    int done = 0, n = 0;
    const cJSON *s;
    if (!problem) {
        cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(args, "steps")) {
            n++;
            done += !strcmp(cJSON_GetObjectItemCaseSensitive(s, "status")->valuestring, "done");
        }
    }
    char text[200];
    if (problem) snprintf(text, sizeof text, "%s", problem);
    else snprintf(text, sizeof text, "plan updated: %d steps, %d done", n, done);
    r->content = strdup(text);
    r->is_error = problem != NULL;
    return r->content ? CN_OK : CN_ERR_NOMEM;
}

cn_status cn_plan_add_tool(cn_toolbox *tb, cn_error *err) {
    return cn_toolbox_add(
        tb, "update_plan",
        "Replace your plan for the task: the list of steps with their status. Completing a step (status done) is "
        "recorded as progress; the plan is kept in your context even when older messages are summarised.",
        "{\"type\":\"object\",\"properties\":{\"steps\":{\"type\":\"array\",\"items\":{\"type\":\"object\","
        "\"properties\":{\"title\":{\"type\":\"string\"},\"status\":{\"type\":\"string\",\"enum\":[\"pending\","
        "\"in_progress\",\"done\"]}},\"required\":[\"title\",\"status\"]}}},\"required\":[\"steps\"],"
        "\"additionalProperties\":false}",
        CN_TOOL_IDEMPOTENT, tool_update_plan, NULL, err);
}

bool cn_plan_is_tool(const cn_tool *tool) { return tool && tool->run == tool_update_plan; }

cn_status cn_plan_store(cn_journal *j, const char *args_json, int *completed, cn_error *err) {
    *completed = 0;
    cJSON *args = cJSON_Parse(args_json);
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(args, "steps");
    if (check_steps(steps)) {
        cJSON_Delete(args);
        return CN_OK; /* the tool already told the model; nothing to store */
    }
    cn_status s = cn_journal_exec(j, "DELETE FROM plan", err);
    const cJSON *step;
    cJSON_ArrayForEach(step, steps) {
        if (s != CN_OK) break;
        const char *title = cJSON_GetObjectItemCaseSensitive(step, "title")->valuestring;
        const char *status = cJSON_GetObjectItemCaseSensitive(step, "status")->valuestring;
        sqlite3_stmt *st;
        if ((s = cn_journal_prepare(j, "INSERT INTO plan(title, status) VALUES(?, ?)", &st, err)) != CN_OK) break;
        sqlite3_bind_text(st, 1, title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
        if ((s = cn_journal_step_done(j, st, err)) != CN_OK || strcmp(status, "done") != 0) continue;
        if ((s = cn_journal_prepare(j, "INSERT OR IGNORE INTO plan_done(title) VALUES(?)", &st, err)) != CN_OK) break;
        sqlite3_bind_text(st, 1, title, -1, SQLITE_STATIC);
        if ((s = cn_journal_step_done(j, st, err)) == CN_OK) *completed += sqlite3_changes(cn_journal_db(j)) > 0;
    }
    cJSON_Delete(args);
    return s;
}

char *cn_plan_render(cn_journal *j) {
    sqlite3_stmt *st;
    cn_error e = {0};
    if (cn_journal_prepare(j, "SELECT title, status FROM plan ORDER BY idx", &st, &e) != CN_OK) return NULL;
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (out) len = (size_t)snprintf(out, cap, "Plan (kept with update_plan):\n");
    int n = 0;
    while (out && sqlite3_step(st) == SQLITE_ROW) {
        const char *title = (const char *)sqlite3_column_text(st, 0), *status = (const char *)sqlite3_column_text(st, 1);
        size_t need = len + strlen(title) + 32;
        if (need > cap) {
            char *grown = realloc(out, cap = 2 * need);
            if (!grown) {
                free(out);
                out = NULL;
                break;
            }
            out = grown;
        }
        len += (size_t)snprintf(out + len, cap - len, "[%s] %s\n",
                                !strcmp(status, "done") ? "x" : !strcmp(status, "in_progress") ? "~" : " ", title);
        n++;
    }
    sqlite3_finalize(st);
    if (!n) {
        free(out);
        return NULL;
    }
    return out;
}
