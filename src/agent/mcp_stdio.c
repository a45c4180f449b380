/* MCP over a child process's stdin/stdout (mcp_stdio.h). */
#include "agent/mcp_stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/mcp_jsonrpc.h"

extern char **environ;

typedef struct {
    char name[80];
    FILE *progress;
    pid_t pid;
    int in_fd;  /* our end of the child's stdin (socket) */
    int out_fd; /* child's stdout */
    int err_fd; /* child's stderr; -1 once closed */
    cn_mcp_lines out, err;
    bool exited, killed; /* killed: exit_code is the signal */
    int exit_code;
} stdio_conn;

/* "NAME=value" strings: the runtime's environment with cfg's variables added or replaced; the
 * strings from *first_added on are malloc'd. */
static char **build_env(const cn_mcp_server_config *cfg, size_t *first_added) {
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + cfg->n_env + 1, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < cfg->n_env && !replaced; j++) {
            size_t kl = strlen(cfg->env[j].key);
            replaced = !strncmp(environ[i], cfg->env[j].key, kl) && environ[i][kl] == '=';
        }
        if (!replaced) env[k++] = environ[i];
    }
    *first_added = k;
    for (size_t j = 0; j < cfg->n_env; j++) {
        size_t len = strlen(cfg->env[j].key) + strlen(cfg->env[j].value) + 2;
        char *kv = malloc(len);
        if (!kv) {
            for (size_t i = *first_added; i < k; i++) free(env[i]);
            free(env);
            return NULL;
        }
        snprintf(kv, len, "%s=%s", cfg->env[j].key, cfg->env[j].value);
        env[k++] = kv;
    }
    return env;
}

static void free_env(char **env, size_t first_added) {
    if (!env) return;
    for (size_t i = first_added; env[i]; i++) free(env[i]);
    free(env);
}

static void note_stderr(stdio_conn *c, bool flush_rest) {
    char *line;
    size_t len;
    while (cn_mcp_lines_take(&c->err, &line, &len) || (flush_rest && cn_mcp_lines_take_rest(&c->err, &line, &len))) {
        cn_mcp_note(c->progress, c->name, "stderr: %.300s", line);
        free(line);
    }
}

/* Reads what is available on fd into lines; false at end of file or on an error. */
static bool drain(int fd, cn_mcp_lines *lines, cn_error *err, bool *overflow) {
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            if (cn_mcp_lines_push(lines, buf, (size_t)n, err) != CN_OK) {
                *overflow = true;
                return false;
            }
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
}

/* Waits up to wait_s for the child to exit, without reaping it: its pid (and so its process group
 * id) stays ours until stdio_close has signalled the group. */
static void wait_exit(stdio_conn *c, double wait_s) {
    double until = cn_mcp_now() + wait_s;
    while (!c->exited && c->pid > 0) {
        siginfo_t info = {0};
        int r = waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if (r == 0 && info.si_pid == c->pid) {
            c->exited = true;
            c->exit_code = info.si_status;
            c->killed = info.si_code != CLD_EXITED;
            break;
        }
        if (r < 0 && errno != EINTR) break;
        if (cn_mcp_now() >= until) break;
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
}

static void describe_exit(stdio_conn *c, cn_error *err, const char *what) {
    wait_exit(c, 0.5);
    if (!c->exited)
        cn_fail(err, CN_ERR_IO, "MCP server \"%s\" %s (process %d still running)", c->name, what, (int)c->pid);
    else
        cn_fail(err, CN_ERR_IO, "MCP server \"%s\" %s (it %s %d)", c->name, what,
                c->killed ? "was killed by signal" : "exited with status", c->exit_code);
}

static cn_status stdio_send(void *impl, const char *json, double deadline, cn_error *err) {
    stdio_conn *c = impl;
    size_t len = strlen(json);
    char *line = malloc(len + 1);
    if (!line) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    memcpy(line, json, len);
    line[len] = '\n';
    size_t off = 0;
    cn_status s = CN_OK;
    while (off < len + 1) {
        ssize_t n = send(c->in_fd, line + off, len + 1 - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            double left = deadline - cn_mcp_now();
            if (left <= 0) {
                s = cn_fail(err, CN_ERR_IO, "MCP server \"%s\" did not read its stdin before the deadline", c->name);
                break;
            }
            struct pollfd p = {.fd = c->in_fd, .events = POLLOUT};
            poll(&p, 1, (int)(left * 1000) + 1);
            continue;
        }
        describe_exit(c, err, "stopped reading its stdin");
        s = CN_ERR_IO;
        break;
    }
    free(line);
    return s;
}

static cn_status stdio_recv(void *impl, double deadline, cn_mcp_recv_kind *kind, char **text, cn_error *err) {
    stdio_conn *c = impl;
    bool late_poll_done = false; /* past the deadline, what is already in the pipes is still read, once */
    for (;;) {
        size_t len;
        if (cn_mcp_lines_take(&c->out, text, &len)) {
            *kind = CN_MCP_RECV_MESSAGE;
            return CN_OK;
        }
        if (c->out_fd < 0) {
            *kind = CN_MCP_RECV_CLOSED;
            describe_exit(c, err, "closed its stdout");
            return CN_OK;
        }
        double left = deadline - cn_mcp_now();
        if (left <= 0 && late_poll_done) {
            *kind = CN_MCP_RECV_TIMEOUT;
            return CN_OK;
        }
        late_poll_done = left <= 0;
        struct pollfd p[2] = {{.fd = c->out_fd, .events = POLLIN}, {.fd = c->err_fd, .events = POLLIN}};
        int r = poll(p, c->err_fd >= 0 ? 2 : 1, left <= 0 ? 0 : left > 3600 ? 3600 * 1000 : (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) return cn_fail(err, CN_ERR_IO, "poll: %s", strerror(errno));
        if (r <= 0) continue;
        bool overflow = false;
        if (c->err_fd >= 0 && p[1].revents) {
            cn_error ignored = {0};
            if (!drain(c->err_fd, &c->err, &ignored, &overflow)) {
                close(c->err_fd);
                c->err_fd = -1;
                note_stderr(c, true);
            }
            note_stderr(c, false);
            if (overflow) cn_mcp_lines_free(&c->err); /* a huge stderr line is dropped, not fatal */
        }
        if (p[0].revents && !drain(c->out_fd, &c->out, err, &overflow)) {
            close(c->out_fd);
            c->out_fd = -1;
            if (overflow) {
                /* The stream cannot be re-synchronised: the server is restarted. */
                *kind = CN_MCP_RECV_CLOSED;
                cn_error_prefix(err, "MCP server \"%s\" stdout", c->name);
                return CN_OK;
            }
            /* Lines complete before end of file are still delivered; an unterminated rest too. */
            char *rest;
            if (cn_mcp_lines_take_rest(&c->out, &rest, &len)) {
                char nl = '\n';
                cn_mcp_lines_push(&c->out, rest, len, err);
                cn_mcp_lines_push(&c->out, &nl, 1, err);
                free(rest);
            }
        }
    }
}

static void stdio_negotiated(void *impl, const char *version) {
    (void)impl;
    (void)version;
}

static void stdio_close(void *impl) {
    stdio_conn *c = impl;
    if (!c) return;
    if (c->in_fd >= 0) {
        shutdown(c->in_fd, SHUT_WR);
        close(c->in_fd);
    }
    if (c->pid > 0) {
        /* Closing stdin is the polite request to exit (specs/protocols.md 3.2); then the group. */
        wait_exit(c, 2.0);
        if (!c->exited) {
            kill(-c->pid, SIGTERM);
            wait_exit(c, 1.0);
        }
        kill(-c->pid, SIGKILL); /* the server if still there, and anything it left in its group */
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
        }
    }
    if (c->out_fd >= 0) close(c->out_fd);
    if (c->err_fd >= 0) {
        cn_error ignored = {0};
        bool overflow = false;
        drain(c->err_fd, &c->err, &ignored, &overflow);
        note_stderr(c, true);
        close(c->err_fd);
    }
    cn_mcp_lines_free(&c->out);
    cn_mcp_lines_free(&c->err);
    free(c);
}

static cn_status stdio_poll(void *impl, cn_mcp_recv_kind *kind, char **text, cn_error *err) {
    return stdio_recv(impl, cn_mcp_now(), kind, text, err);
}

static const cn_mcp_transport_ops stdio_ops = {stdio_send, stdio_recv, stdio_poll, stdio_negotiated, stdio_close};

cn_status cn_mcp_stdio_open(const cn_mcp_server_config *cfg, FILE *progress, cn_mcp_transport *out, cn_error *err) {
    stdio_conn *c = calloc(1, sizeof *c);
    if (!c) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    snprintf(c->name, sizeof c->name, "%s", cfg->name);
    c->progress = progress;
    c->in_fd = c->out_fd = c->err_fd = -1;
    c->out.limit = CN_MCP_MAX_LINE;
    c->err.limit = 64 * 1024;
    int in_pair[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, exec_pipe[2] = {-1, -1};
    char **argv = calloc(cfg->n_args + 2, sizeof *argv);
    size_t first_added = 0;
    char **env = build_env(cfg, &first_added);
    cn_status s = CN_OK;
    if (!argv || !env) {
        s = cn_fail(err, CN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    argv[0] = cfg->command;
    for (size_t i = 0; i < cfg->n_args; i++) argv[i + 1] = cfg->args[i];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) || pipe2(out_pipe, O_CLOEXEC) ||
        pipe2(err_pipe, O_CLOEXEC) || pipe2(exec_pipe, O_CLOEXEC)) {
        s = cn_fail(err, CN_ERR_IO, "MCP server \"%s\": cannot create pipes: %s", cfg->name, strerror(errno));
        goto fail;
    }
    pid_t pid = fork();
    if (pid < 0) {
        s = cn_fail(err, CN_ERR_IO, "MCP server \"%s\": fork: %s", cfg->name, strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        setpgid(0, 0);
        dup2(in_pair[1], 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        int code[2] = {0, 0}; /* errno, stage: 0 chdir, 1 exec */
        if (cfg->cwd && chdir(cfg->cwd)) {
            code[0] = errno;
        } else {
            signal(SIGPIPE, SIG_DFL);
            execvpe(cfg->command, argv, env);
            code[0] = errno;
            code[1] = 1;
        }
        ssize_t w = write(exec_pipe[1], code, sizeof code);
        (void)w;
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so kill(-pid) works even before the child ran setpgid */
    c->pid = pid;
    close(in_pair[1]), in_pair[1] = -1;
    close(out_pipe[1]), out_pipe[1] = -1;
    close(err_pipe[1]), err_pipe[1] = -1;
    close(exec_pipe[1]), exec_pipe[1] = -1;
    int code[2];
    ssize_t got;
    while ((got = read(exec_pipe[0], code, sizeof code)) < 0 && errno == EINTR) {
    }
    if (got == (ssize_t)sizeof code) {
        waitpid(pid, NULL, 0);
        c->pid = -1;
        s = code[1] ? cn_fail(err, CN_ERR_IO, "MCP server \"%s\": cannot run \"%s\": %s", cfg->name, cfg->command,
                              strerror(code[0]))
                    : cn_fail(err, CN_ERR_IO, "MCP server \"%s\": cannot enter cwd \"%s\": %s", cfg->name, cfg->cwd,
                              strerror(code[0]));
        goto fail;
    }
    c->in_fd = in_pair[0], in_pair[0] = -1;
    c->out_fd = out_pipe[0], out_pipe[0] = -1;
    c->err_fd = err_pipe[0], err_pipe[0] = -1;
    fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
    fcntl(c->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(c->err_fd, F_SETFL, O_NONBLOCK);
    /* stderr is drained only while we wait on the server: room for 1 MiB of logging between calls
     * (best effort: pipe-max-size may be lower) before a chatty server blocks on it. */
    fcntl(c->err_fd, F_SETPIPE_SZ, 1 << 20);
    out->ops = &stdio_ops;
    out->impl = c;
fail:
    for (int i = 0; i < 2; i++) {
        if (in_pair[i] >= 0) close(in_pair[i]);
        if (out_pipe[i] >= 0) close(out_pipe[i]);
        if (err_pipe[i] >= 0) close(err_pipe[i]);
        if (exec_pipe[i] >= 0) close(exec_pipe[i]);
    }
    free(argv);
    free_env(env, first_added);
    if (s != CN_OK) stdio_close(c);
    return s;
}
