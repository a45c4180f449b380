/* clawnet agent: durable agent runs over an OpenAI-compatible model (docs/agent.md). */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/audit.h"
#include "agent/journal.h"
#include "agent/journal_archive.h"
#include "agent/journal_verify.h"
#include "agent/run.h"
#include "agent/run_tools.h"
#include "cli/args.h"
#include "cli/commands.h"

static const char agent_usage[] =
    "usage: clawnet agent COMMAND [options]\n"
    "\n"
    "  run TASK.md --workspace DIR [options]   start a run and execute it in the foreground\n"
    "  resume ID                               continue a run from its journal (after a crash or stop)\n"
    "  status [ID]                             one run's state, or all runs under --home\n"
    "  log ID [--follow]                       the run's journal events, one per line; --follow waits\n"
    "                                          for new ones until the run ends\n"
    "  stop ID                                 ask a running run to stop at its next step\n"
    "  verify ID                               check the hash chain and signed checkpoints\n"
    "\n"
    "options of run:\n"
    "  --workspace DIR       the only directory the tools may touch (required)\n"
    "  --model-url URL       OpenAI-compatible base URL (default http://127.0.0.1:8080/v1)\n"
    "  --model NAME          model name sent in requests (default deepseek-v4)\n"
    "  --api-key-file F      file holding the API key (sent as a Bearer token; never journaled)\n"
    "  --deadline D          wall-clock budget: 90s, 30m, 28h, 2d (default 28h)\n"
    "  --max-steps N         model calls (default 1000); --max-tokens N, --max-tool-calls N (0: no limit)\n"
    "  --loop-limit N        loop guard: identical calls, equal results, errors, cycles without progress\n"
    "                        before status stuck (default 5; 0: off)\n"
    "  --drift-limit N       tool calls in a row without any progress before status stuck (default 200; 0: off)\n"
    "  --context-tokens N    compact the conversation (model-written summary, pinned task and plan kept)\n"
    "                        when it passes about N tokens (default 32768; 0: never)\n"
    "  --spill-bytes N       tool results over N bytes go to artifact files, shown as a preview and paged\n"
    "                        with read_artifact (default 16384; 0: never)\n"
    "  --archive-events N    when journal.db holds more than N events, move the oldest into sealed files\n"
    "                        under RUN_DIR/archive, keeping N/2 (default 20000; 0: never)\n"
    "  --redact              journal only hashes of task, model messages, tool arguments and results\n"
    "  --policy FILE         what the tools may do beyond the workspace files (docs/agent.md, Policy)\n"
    "  --mcp-config FILE     MCP servers whose tools the run offers (docs/agent.md, MCP)\n"
    "  --id ID               choose the run id (default: time and random suffix)\n"
    "options of all commands:\n"
    "  --home DIR            state directory, one subdirectory per run (default ~/.clawnet/agent)\n"
    "  --timeout S           per model request timeout in seconds (default 600)\n"
    "  --checkpoint-every N  sign the chain head every N events (default 16)\n"
    "  --quiet               no progress lines\n"
    "\n"
    "Exit status: 0 when the run finished (verify: journal intact), 3 when it ended otherwise\n"
    "(stuck, budget_exhausted, deadline_exceeded, stopped, failed; verify: tampering found), 1 on errors.\n";

typedef struct {
    const char *home;
    long timeout_s;
    int checkpoint_every;
    bool quiet;
    char home_buf[PATH_MAX];
} common_options;

/* CLAWNET_AGENT_CRASH_AT=K (tests only): die like kill -9 right after this process's K-th durable
 * boundary: a journal commit or a step of archiving (journal.h; counted over every journal handle
 * it opens, run_created included). CLAWNET_AGENT_CRASH_AT_ARCHIVE=K: right after its K-th
 * archiving boundary only (archive_written, archive_renamed, archive_commit, archive_vacuumed). */
typedef struct {
    long crash_at, commits, crash_at_archive, archive_points;
} crash_counter;

static void crash_hook(void *ctx, int64_t handle_commits, const char *point) {
    crash_counter *c = ctx;
    (void)handle_commits;
    if (++c->commits == c->crash_at) _exit(137);
    if (!strncmp(point, "archive_", 8) && ++c->archive_points == c->crash_at_archive) _exit(137);
}

static crash_counter crash_counter_from_env(void) {
    const char *crash = getenv("CLAWNET_AGENT_CRASH_AT"), *archive = getenv("CLAWNET_AGENT_CRASH_AT_ARCHIVE");
    return (crash_counter){.crash_at = crash ? strtol(crash, NULL, 10) : 0,
                           .crash_at_archive = archive ? strtol(archive, NULL, 10) : 0};
}

static bool crash_armed(const crash_counter *c) { return c->crash_at > 0 || c->crash_at_archive > 0; }

static bool parse_duration(const char *text, double *seconds) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || v < 0) return false;
    double unit = !*end || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : -1;
    if (unit < 0) return false;
    *seconds = v * unit;
    return true;
}

static bool mkdir_p(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(buf, 0700) == 0 || errno == EEXIST;
}

static bool valid_id(const char *id) {
    if (!id[0] || strlen(id) > 60) return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return false;
    return true;
}

/* Common options; returns 1 if argv[*i] was one, 0 if not, -1 on a bad value. */
static int parse_common(int argc, char **argv, int *i, common_options *o) {
    const char *a = argv[*i], *v;
    int64_t n;
    if (!strcmp(a, "--quiet")) return o->quiet = true, 1;
    if (!strcmp(a, "--home")) return (o->home = cn_option_value(argc, argv, i)) ? 1 : -1;
    if (!strcmp(a, "--timeout")) {
        if (!(v = cn_option_value(argc, argv, i)) || !cn_parse_int(a, v, 1, 86400, &n)) return -1;
        o->timeout_s = (long)n;
        return 1;
    }
    if (!strcmp(a, "--checkpoint-every")) {
        if (!(v = cn_option_value(argc, argv, i)) || !cn_parse_int(a, v, 1, 1000000, &n)) return -1;
        o->checkpoint_every = (int)n;
        return 1;
    }
    return 0;
}

static bool resolve_home(common_options *o) {
    if (!o->home) {
        const char *h = getenv("HOME");
        if (!h) {
            fputs("clawnet agent: HOME is not set; pass --home DIR\n", stderr);
            return false;
        }
        snprintf(o->home_buf, sizeof o->home_buf, "%s/.clawnet/agent", h);
        o->home = o->home_buf;
    }
    if (!mkdir_p(o->home)) {
        fprintf(stderr, "clawnet agent: cannot create %s: %s\n", o->home, strerror(errno));
        return false;
    }
    return true;
}

static bool run_dir_of(const common_options *o, const char *id, char *dir, size_t size, bool must_exist) {
    if (!valid_id(id)) {
        fprintf(stderr, "clawnet agent: \"%s\" is not a run id (letters, digits, - and _)\n", id);
        return false;
    }
    snprintf(dir, size, "%s/%s", o->home, id);
    struct stat st;
    if (must_exist && stat(dir, &st) != 0) {
        fprintf(stderr, "clawnet agent: no run %s under %s\n", id, o->home);
        return false;
    }
    return true;
}

/* tools: the toolbox agent run checked (taken over by the run), or NULL to build it from the journal. */
static int execute(const common_options *o, const char *dir, const char *id, bool resuming, crash_counter *crash,
                   cn_toolbox *tools, int64_t call_timeout_s) {
    cn_agent_exec_options eo = {.commit_hook = crash_armed(crash) ? crash_hook : NULL, .commit_hook_ctx = crash,
                                .progress = o->quiet ? NULL : stderr, .model_timeout_s = o->timeout_s,
                                .checkpoint_every = o->checkpoint_every, .tools = tools,
                                .tools_call_timeout_s = call_timeout_s};
    char status[CN_AGENT_STATUS_MAX] = "";
    cn_error err = {0};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cn_status s = cn_agent_run_execute(dir, id, resuming, &eo, status, &err);
    curl_global_cleanup();
    if (s != CN_OK) {
        fprintf(stderr, "clawnet agent: run %s: %s\n", id, err.msg);
        return 1;
    }
    printf("status %s\n", status);
    return !strcmp(status, "finished") ? 0 : 3;
}

static char *read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            char *grown = realloc(buf, cap *= 2);
            if (!grown) {
                free(buf);
                buf = NULL;
            }
            buf = grown;
        }
    }
    fclose(f);
    if (buf) buf[len] = 0;
    return buf;
}

/* Reads an optional settings file (--policy, --mcp-config); a missing path leaves *text NULL. */
static bool read_setting_file(const char *flag, const char *path, char **text) {
    *text = NULL;
    if (!path) return true;
    if (!(*text = read_text_file(path))) {
        fprintf(stderr, "clawnet agent run: %s: cannot read %s: %s\n", flag, path, strerror(errno));
        return false;
    }
    return true;
}

/* Builds the run's tool set before anything is created, so a bad policy or MCP configuration is
 * reported now rather than by the first step; the run then uses this toolbox (its MCP servers
 * started once, not again). */
static bool check_tools(const char *policy, const char *mcp, const char *workspace, FILE *progress, cn_toolbox **tb,
                        int64_t *call_timeout_s) {
    cn_error err = {0};
    *tb = NULL;
    /* MCP servers get the workspace as their root (roots/list); a bad one is reported below. */
    char ws_real[PATH_MAX];
    const char *root = workspace && realpath(workspace, ws_real) ? ws_real : NULL;
    if (cn_run_tools_build(&(cn_run_tools_config){.policy_json = policy, .mcp_config_json = mcp, .workspace = root,
                                                  .progress = progress, .call_timeout_s = call_timeout_s},
                           tb, &err) != CN_OK) {
        fprintf(stderr, "clawnet agent run: %s\n", err.msg);
        return false;
    }
    return true;
}

static int cmd_run(int argc, char **argv) {
    common_options co = {.timeout_s = 600, .checkpoint_every = 16};
    cn_agent_run_options ro = {.model_url = "http://127.0.0.1:8080/v1", .model = "deepseek-v4", .max_steps = 1000,
                               .loop_limit = 5, .drift_limit = 200, .context_tokens = 32768, .spill_bytes = 16384,
                               .archive_events = CN_ARCHIVE_DEFAULT_EVENTS};
    const char *task_path = NULL, *workspace = NULL, *id = NULL, *v, *policy_path = NULL, *mcp_path = NULL;
    double deadline_s = 28 * 3600.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t n;
        int c = parse_common(argc, argv, &i, &co);
        if (c < 0) return 1;
        if (c) continue;
        if (!strcmp(a, "--workspace")) {
            if (!(workspace = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--model-url")) {
            if (!(ro.model_url = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--model")) {
            if (!(ro.model = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--api-key-file")) {
            if (!(ro.api_key_file = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--id")) {
            if (!(id = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--redact")) {
            ro.redact = true;
        } else if (!strcmp(a, "--policy")) {
            if (!(policy_path = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--mcp-config")) {
            if (!(mcp_path = cn_option_value(argc, argv, &i))) return 1;
        } else if (!strcmp(a, "--deadline")) {
            if (!(v = cn_option_value(argc, argv, &i))) return 1;
            if (!parse_duration(v, &deadline_s)) {
                fprintf(stderr, "clawnet agent: --deadline: \"%s\" is not a duration like 90s, 30m, 28h or 2d\n", v);
                return 1;
            }
        } else if (!strcmp(a, "--max-steps") || !strcmp(a, "--max-tokens") || !strcmp(a, "--max-tool-calls") ||
                   !strcmp(a, "--loop-limit") || !strcmp(a, "--drift-limit") || !strcmp(a, "--context-tokens") ||
                   !strcmp(a, "--spill-bytes") || !strcmp(a, "--archive-events")) {
            if (!(v = cn_option_value(argc, argv, &i)) || !cn_parse_int(a, v, 0, INT64_MAX / 2, &n)) return 1;
            if (!strcmp(a, "--max-steps")) ro.max_steps = n;
            else if (!strcmp(a, "--max-tokens")) ro.max_tokens = n;
            else if (!strcmp(a, "--max-tool-calls")) ro.max_tool_calls = n;
            else if (!strcmp(a, "--drift-limit")) ro.drift_limit = (int)(n > 1000000 ? 1000000 : n);
            else if (!strcmp(a, "--context-tokens")) ro.context_tokens = n;
            else if (!strcmp(a, "--spill-bytes")) ro.spill_bytes = n;
            else if (!strcmp(a, "--archive-events")) ro.archive_events = n;
            else ro.loop_limit = (int)(n > 1000000 ? 1000000 : n);
        } else if (a[0] == '-') {
            fprintf(stderr, "clawnet agent run: unknown option %s\n\n%s", a, agent_usage);
            return 2;
        } else if (!task_path) {
            task_path = a;
        } else {
            fprintf(stderr, "clawnet agent run: unexpected argument %s\n", a);
            return 2;
        }
    }
    if (!task_path || !workspace) {
        fprintf(stderr, "clawnet agent run: TASK.md and --workspace DIR are required\n\n%s", agent_usage);
        return 2;
    }
    char *task = read_text_file(task_path);
    if (!task) {
        fprintf(stderr, "clawnet agent run: cannot read %s: %s\n", task_path, strerror(errno));
        return 1;
    }
    char *policy = NULL, *mcp = NULL;
    cn_toolbox *tools = NULL;
    int64_t call_timeout_s = 0;
    if (!read_setting_file("--policy", policy_path, &policy) || !read_setting_file("--mcp-config", mcp_path, &mcp) ||
        !check_tools(policy, mcp, workspace, co.quiet ? NULL : stderr, &tools, &call_timeout_s))
        goto fail;
    ro.policy_json = policy;
    ro.mcp_config_json = mcp;
    char ws_real[PATH_MAX], key_real[PATH_MAX], gen_id[64], dir[PATH_MAX];
    struct stat st;
    if (!realpath(workspace, ws_real) || stat(ws_real, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "clawnet agent run: workspace %s is not a directory\n", workspace);
        goto fail;
    }
    if (ro.api_key_file && !realpath(ro.api_key_file, key_real)) {
        fprintf(stderr, "clawnet agent run: cannot find API key file %s\n", ro.api_key_file);
        goto fail;
    }
    if (!id) {
        unsigned char rnd[3];
        randombytes_buf(rnd, sizeof rnd);
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        snprintf(gen_id, sizeof gen_id, "%s-%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2]);
        id = gen_id;
    }
    if (!resolve_home(&co) || !run_dir_of(&co, id, dir, sizeof dir, false)) goto fail;
    if (mkdir(dir, 0700) != 0) {
        fprintf(stderr, "clawnet agent run: cannot create run directory %s: %s\n", dir, strerror(errno));
        goto fail;
    }
    ro.run_dir = dir;
    ro.run_id = id;
    ro.task = task;
    ro.workspace = ws_real;
    ro.api_key_file = ro.api_key_file ? key_real : NULL;
    ro.deadline_unix = (double)time(NULL) + deadline_s;
    ro.checkpoint_every = co.checkpoint_every;
    crash_counter crash = crash_counter_from_env();
    ro.commit_hook = crash_armed(&crash) ? crash_hook : NULL;
    ro.commit_hook_ctx = &crash;
    cn_error err = {0};
    cn_status s = cn_agent_run_create(&ro, &err);
    free(task);
    free(policy);
    free(mcp);
    if (s != CN_OK) {
        fprintf(stderr, "clawnet agent run: %s\n", err.msg);
        cn_toolbox_destroy(tools);
        return 1;
    }
    printf("run %s\n", id);
    fflush(stdout);
    return execute(&co, dir, id, false, &crash, tools, call_timeout_s);
fail:
    cn_toolbox_destroy(tools);
    free(task);
    free(policy);
    free(mcp);
    return 1;
}

/* resume, status, log, stop, verify: ID plus the common options. */
static int parse_id_command(int argc, char **argv, common_options *co, const char **id, bool id_optional) {
    *id = NULL;
    for (int i = 1; i < argc; i++) {
        int c = parse_common(argc, argv, &i, co);
        if (c < 0) return 1;
        if (c) continue;
        if (argv[i][0] == '-' || *id) {
            fprintf(stderr, "clawnet agent %s: unexpected argument %s\n", argv[0], argv[i]);
            return 2;
        }
        *id = argv[i];
    }
    if (!*id && !id_optional) {
        fprintf(stderr, "clawnet agent %s: a run ID is required\n", argv[0]);
        return 2;
    }
    return resolve_home(co) ? 0 : 1;
}

static int open_existing(const common_options *co, const char *id, char *dir, size_t size, cn_journal **j) {
    if (!run_dir_of(co, id, dir, size, true)) return 1;
    cn_error err = {0};
    if (cn_agent_journal_open(dir, id, co->checkpoint_every, j, &err) != CN_OK) {
        fprintf(stderr, "clawnet agent: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* A run whose status says running is live only while its last runner process is (runner.h);
 * otherwise the runner died without recording an end: crashed, waiting for resume. */
static const char *liveness(cn_journal *j, const char *status, cn_runner_identity *runner) {
    if (strcmp(status, "running") != 0) return status;
    if (!cn_agent_last_runner(j, runner)) return "crashed";
    return cn_runner_alive(runner) ? "running" : "crashed";
}

static void print_status(cn_journal *j, const char *id, const char *home) {
    sqlite3_stmt *st;
    cn_error err = {0};
    if (cn_journal_prepare(j,
                           "SELECT status, reason, steps, max_steps, tokens, tool_calls, deadline, workspace,"
                           " (SELECT COALESCE(MAX(seq), 0) FROM journal_head) FROM run WHERE id = 1",
                           &st, &err) != CN_OK) {
        printf("%s  (unreadable: %s)\n", id, err.msg);
        return;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        double left = sqlite3_column_double(st, 6) - (double)time(NULL);
        cn_runner_identity runner;
        const char *shown = liveness(j, (const char *)sqlite3_column_text(st, 0), &runner);
        char who[64] = "";
        if (!strcmp(shown, "running")) snprintf(who, sizeof who, " pid=%lld", (long long)runner.pid);
        printf("%s  status=%s%s steps=%lld/%lld tokens=%lld tool_calls=%lld events=%lld deadline_in=%.0fs workspace=%s%s%s\n",
               id, shown, who, (long long)sqlite3_column_int64(st, 2),
               (long long)sqlite3_column_int64(st, 3), (long long)sqlite3_column_int64(st, 4),
               (long long)sqlite3_column_int64(st, 5), (long long)sqlite3_column_int64(st, 8), left > 0 ? left : 0,
               (const char *)sqlite3_column_text(st, 7), sqlite3_column_bytes(st, 1) ? "  reason: " : "",
               (const char *)sqlite3_column_text(st, 1));
        if (!strcmp(shown, "crashed"))
            printf("%s  the runner (pid %lld) is gone without recording an end; resume with: clawnet agent resume %s"
                   " --home %s\n",
                   id, (long long)runner.pid, id, home);
    } else {
        printf("%s  (no run record)\n", id);
    }
    sqlite3_finalize(st);
}

static int cmd_status(int argc, char **argv) {
    common_options co = {.checkpoint_every = 16};
    const char *id;
    int rc = parse_id_command(argc, argv, &co, &id, true);
    if (rc) return rc;
    char dir[PATH_MAX];
    cn_journal *j;
    if (id) {
        if (open_existing(&co, id, dir, sizeof dir, &j)) return 1;
        print_status(j, id, co.home);
        cn_journal_close(j);
        return 0;
    }
    /* All runs: every subdirectory holding a journal, in name (= time) order. */
    struct dirent **names;
    int n = scandir(co.home, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "clawnet agent status: cannot list %s: %s\n", co.home, strerror(errno));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char db[PATH_MAX * 2];
        snprintf(db, sizeof db, "%s/%s/journal.db", co.home, names[i]->d_name);
        if (valid_id(names[i]->d_name) && access(db, F_OK) == 0 &&
            open_existing(&co, names[i]->d_name, dir, sizeof dir, &j) == 0) {
            print_status(j, names[i]->d_name, co.home);
            cn_journal_close(j);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

typedef struct {
    int64_t *after;
} log_printer;

static bool print_event(void *ctx, const cn_archive_event *ev) {
    log_printer *p = ctx;
    *p->after = ev->seq;
    printf("%lld %s %.*s\n", (long long)ev->seq, ev->kind, (int)ev->payload_len, (const char *)ev->payload);
    return true;
}

/* Prints the events after *after, archived ones first (journal_archive.h); false on a read error. */
static bool print_events_after(cn_journal *j, const char *run_dir, int64_t *after) {
    cn_error err = {0};
    log_printer p = {.after = after};
    cn_archive_visitor v = {.ctx = &p, .event = print_event};
    cn_status s = cn_archive_foreach_event(cn_journal_db(j), run_dir, *after, &v, &err);
    fflush(stdout);
    if (s != CN_OK) {
        fprintf(stderr, "clawnet agent log: %s\n", err.msg);
        return false;
    }
    return true;
}

static void read_run_status(cn_journal *j, char *status, size_t size) {
    sqlite3_stmt *st;
    cn_error err = {0};
    status[0] = 0;
    if (cn_journal_prepare(j, "SELECT status FROM run WHERE id = 1", &st, &err) != CN_OK) return;
    if (sqlite3_step(st) == SQLITE_ROW) snprintf(status, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* log ID [--follow]: with --follow, keeps printing new events (polling every 200 ms) until the
 * run's status is final and every event up to that point is printed. */
static int cmd_log(int argc, char **argv) {
    common_options co = {.checkpoint_every = 16};
    bool follow = false;
    char *args[64];
    int n = 0;
    for (int i = 0; i < argc && n < 64; i++) {
        if (!strcmp(argv[i], "--follow") || !strcmp(argv[i], "-f")) follow = true;
        else args[n++] = argv[i];
    }
    const char *id;
    int rc = parse_id_command(n, args, &co, &id, false);
    if (rc) return rc;
    char dir[PATH_MAX];
    cn_journal *j;
    if (open_existing(&co, id, dir, sizeof dir, &j)) return 1;
    int64_t after = 0;
    bool ok = print_events_after(j, dir, &after);
    while (ok && follow) {
        char status[64];
        read_run_status(j, status, sizeof status);
        /* The status is read before the last poll, so the events that ended the run are printed. */
        ok = print_events_after(j, dir, &after);
        if (cn_agent_status_is_final(status)) break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    cn_journal_close(j);
    return ok ? 0 : 1;
}

static int cmd_resume(int argc, char **argv) {
    common_options co = {.timeout_s = 600, .checkpoint_every = 16};
    const char *id;
    int rc = parse_id_command(argc, argv, &co, &id, false);
    if (rc) return rc;
    char dir[PATH_MAX];
    if (!run_dir_of(&co, id, dir, sizeof dir, true)) return 1;
    crash_counter crash = crash_counter_from_env();
    return execute(&co, dir, id, true, &crash, NULL, 0);
}

static int cmd_stop(int argc, char **argv) {
    common_options co = {.checkpoint_every = 16};
    const char *id;
    int rc = parse_id_command(argc, argv, &co, &id, false);
    if (rc) return rc;
    char dir[PATH_MAX];
    if (!run_dir_of(&co, id, dir, sizeof dir, true)) return 1;
    cn_error err = {0};
    if (cn_agent_run_stop(dir, id, &err) != CN_OK) {
        fprintf(stderr, "clawnet agent stop: %s\n", err.msg);
        return 1;
    }
    printf("stopped %s\n", id);
    return 0;
}

static int cmd_verify(int argc, char **argv) {
    common_options co = {.checkpoint_every = 16};
    const char *id;
    int rc = parse_id_command(argc, argv, &co, &id, false);
    if (rc) return rc;
    char dir[PATH_MAX], db_path[PATH_MAX + 16];
    if (!run_dir_of(&co, id, dir, sizeof dir, true)) return 1;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    cn_error err = {0};
    if (cn_audit_public_key_load(dir, pk, &err) != CN_OK) {
        fprintf(stderr, "clawnet agent verify: %s\n", err.msg);
        return 1;
    }
    /* Read-only: verifying must not change what it checks. */
    snprintf(db_path, sizeof db_path, "%s/journal.db", dir);
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "clawnet agent verify: cannot open %s: %s\n", db_path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return 1;
    }
    sqlite3_stmt *st;
    char status[64] = "";
    if (sqlite3_prepare_v2(db, "SELECT status FROM run WHERE id = 1", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    cn_journal_verify_report rep;
    cn_status s = cn_journal_verify(db, dir, id, pk, cn_agent_status_is_final(status), &rep, &err);
    sqlite3_close(db);
    if (s != CN_OK) {
        fprintf(stderr, "clawnet agent verify: %s\n", err.msg);
        return 1;
    }
    char fp[2 * 8 + 1];
    cn_audit_hex(pk, 8, fp);
    if (rep.ok) {
        printf("ok: %lld events (%lld in %lld archive files), %lld signed checkpoints (key %s...), status %s\n",
               (long long)rep.events, (long long)rep.archived_events, (long long)rep.archives, (long long)rep.checkpoints,
               fp, status);
        if (rep.unrecorded_files)
            printf("note: %lld file(s) in %s/" CN_ARCHIVE_DIR " are not recorded archives (left by a kill during"
                   " archiving; the next runner removes them)\n", (long long)rep.unrecorded_files, dir);
        return 0;
    }
    printf("BAD: first bad event %lld: %s\n", (long long)rep.first_bad_seq, rep.problem);
    return 3;
}

int cn_cmd_agent(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(agent_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(agent_usage, stdout);
            return 0;
        }
    const char *sub = argv[1];
    if (!strcmp(sub, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(sub, "resume")) return cmd_resume(argc - 1, argv + 1);
    if (!strcmp(sub, "status")) return cmd_status(argc - 1, argv + 1);
    if (!strcmp(sub, "log")) return cmd_log(argc - 1, argv + 1);
    if (!strcmp(sub, "stop")) return cmd_stop(argc - 1, argv + 1);
    if (!strcmp(sub, "verify")) return cmd_verify(argc - 1, argv + 1);
    fprintf(stderr, "clawnet agent: unknown command \"%s\"\n\n%s", sub, agent_usage);
    return 2;
}
