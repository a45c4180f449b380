/* The shell sandbox: bubblewrap + seccomp + rlimits + a supervising parent (sandbox.h). */
#include "agent/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/sandbox_filter.h"

/* Fixed descriptor numbers in the child, named in bwrap's arguments before the fork. */
#define FILTER_FD 3
#define INFO_FD 4
/* How often the supervisor counts the sandbox's processes. */
#define PROCESS_CHECK_S 0.02
/* After bwrap exits: how long the pipe may stay open, and how long the namespace may take to empty. */
#define DRAIN_GRACE_S 1.0

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now_real(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

cn_status cn_sandbox_find_bwrap(char **path, cn_error *err) {
    *path = NULL;
    const char *env = getenv("PATH");
    if (!env || !env[0]) return cn_fail(err, CN_ERR_MISSING, "bwrap not found: PATH is empty (Debian package bubblewrap)");
    const char *p = env;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (n > 0 && p[0] == '/' && n < 4000) {
            char candidate[4096];
            snprintf(candidate, sizeof candidate, "%.*s/bwrap", (int)n, p);
            if (access(candidate, X_OK) == 0) {
                if (!(*path = strdup(candidate))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
                return CN_OK;
            }
        }
        p += n + (colon ? 1 : 0);
    }
    return cn_fail(err, CN_ERR_MISSING, "bwrap not found on PATH (install the Debian package bubblewrap)");
}

/* ---- bwrap's command line ---- */

typedef struct {
    const char **v;
    size_t n, cap;
    bool nomem;
} argv_list;

static void arg(argv_list *a, const char *s) {
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        const char **grown = realloc(a->v, cap * sizeof *grown);
        if (!grown) {
            a->nomem = true;
            return;
        }
        a->v = grown;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* /bin, /sbin and /lib* are symlinks into /usr on a merged-/usr system (Debian 12): recreate the
 * link; a real directory is bound read-only; a missing one is skipped. link_buf keeps the targets. */
static void add_top_dir(argv_list *a, const char *dir, char *link_buf, size_t cap) {
    struct stat st;
    if (lstat(dir, &st) != 0) return;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(dir, link_buf, cap - 1);
        if (n <= 0) return;
        link_buf[n] = 0;
        arg(a, "--symlink");
        arg(a, link_buf);
        arg(a, dir);
    } else if (S_ISDIR(st.st_mode)) {
        arg(a, "--ro-bind");
        arg(a, dir);
        arg(a, dir);
    }
}

/* The wrapper lowers RLIMIT_NPROC inside the new user namespace (sandbox.h says why), then runs
 * the command as `bash -c COMMAND`; soft and hard limits both, so the command cannot raise it. */
static const char wrapper[] =
    "ulimit -S -H -u \"$1\" || { echo 'sandbox: cannot set the process limit' >&2; exit 126; }; exec /bin/bash -c \"$2\"";

#define TOP_DIRS 6
static const char *const top_dirs[TOP_DIRS] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

static void build_argv(argv_list *a, const cn_sandbox_config *cfg, const char *command, char nproc[32],
                       char links[TOP_DIRS][256], char fds[2][16]) {
    arg(a, cfg->bwrap);
    arg(a, "--unshare-user");
    arg(a, "--unshare-pid");
    arg(a, "--unshare-ipc");
    arg(a, "--unshare-uts");
    arg(a, "--unshare-cgroup-try");
    if (!cfg->network) arg(a, "--unshare-net");
    arg(a, "--uid");
    arg(a, "65534");
    arg(a, "--gid");
    arg(a, "65534");
    arg(a, "--hostname");
    arg(a, "sandbox");
    arg(a, "--die-with-parent");
    arg(a, "--new-session");
    arg(a, "--cap-drop");
    arg(a, "ALL");
    arg(a, "--clearenv");
    arg(a, "--setenv");
    arg(a, "PATH");
    arg(a, "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
    arg(a, "--setenv");
    arg(a, "HOME");
    arg(a, "/workspace");
    arg(a, "--setenv");
    arg(a, "TMPDIR");
    arg(a, "/tmp");
    arg(a, "--setenv");
    arg(a, "LANG");
    arg(a, "C.UTF-8");
    arg(a, "--ro-bind");
    arg(a, "/usr");
    arg(a, "/usr");
    for (int i = 0; i < TOP_DIRS; i++) add_top_dir(a, top_dirs[i], links[i], sizeof links[i]);
    arg(a, "--ro-bind");
    arg(a, "/etc");
    arg(a, "/etc");
    arg(a, "--proc");
    arg(a, "/proc");
    arg(a, "--dev");
    arg(a, "/dev");
    arg(a, "--tmpfs");
    arg(a, "/tmp");
    /* After the tmpfs, so a path below /tmp is bound over it rather than hidden by it. */
    for (size_t i = 0; i < cfg->n_read_only_paths; i++) {
        arg(a, "--ro-bind");
        arg(a, cfg->read_only_paths[i]);
        arg(a, cfg->read_only_paths[i]);
    }
    arg(a, cfg->workspace_read_only ? "--ro-bind" : "--bind");
    arg(a, cfg->workspace);
    arg(a, "/workspace");
    arg(a, "--chdir");
    arg(a, "/workspace");
    snprintf(fds[0], 16, "%d", FILTER_FD);
    snprintf(fds[1], 16, "%d", INFO_FD);
    arg(a, "--seccomp");
    arg(a, fds[0]);
    arg(a, "--info-fd");
    arg(a, fds[1]);
    arg(a, "--");
    arg(a, "/bin/bash");
    arg(a, "-c");
    arg(a, wrapper);
    arg(a, "clawnet-sandbox");
    snprintf(nproc, 32, "%lld", (long long)cfg->limits.max_processes);
    arg(a, nproc);
    arg(a, command);
}

/* ---- the child between fork and exec: async-signal-safe calls only ---- */

static void set_limit(int resource, int64_t soft, int64_t hard) {
    struct rlimit rl = {.rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard};
    if (setrlimit(resource, &rl) != 0) _exit(125);
}

__attribute__((noreturn)) static void exec_child(const char *const *argv, const cn_policy_limits *lim, bool memory_cgroup,
                                                 int go_fd, int go_other, int out_fd, int filter_fd, int info_fd,
                                                 int null_fd) {
    /* Wait until the parent has put this process into the call's cgroup (one byte); end of file
     * means it could not (or died): never run outside it. */
    if (go_fd >= 0) {
        close(go_other);
        char go = 0;
        ssize_t n;
        while ((n = read(go_fd, &go, 1)) < 0 && errno == EINTR) {}
        if (n != 1 || go != 'g') _exit(125);
        close(go_fd);
    }
    /* Move every source above the fixed numbers first so no dup2 overwrites another source. */
    int out = fcntl(out_fd, F_DUPFD, 10), filter = fcntl(filter_fd, F_DUPFD, 10), info = fcntl(info_fd, F_DUPFD, 10),
        null = fcntl(null_fd, F_DUPFD, 10);
    if (out < 0 || filter < 0 || info < 0 || null < 0) _exit(125);
    if (dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(filter, FILTER_FD) < 0 ||
        dup2(info, INFO_FD) < 0)
        _exit(125);
    if (close_range(INFO_FD + 1, ~0u, 0) != 0)
        for (int fd = INFO_FD + 1; fd < 1024; fd++) close(fd); /* a kernel before 5.9 */
    setpgid(0, 0); /* the supervisor kills this group */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGPIPE, &dfl, NULL);
    /* SIGXCPU at the soft limit, SIGKILL a second later. */
    set_limit(RLIMIT_CPU, lim->cpu_s, lim->cpu_s + 1);
    /* With a memory cgroup the limit is the whole sandbox's (sandbox_cgroup.h), not each process's
     * address space (which also refuses large reservations that would never be touched). */
    if (!memory_cgroup) set_limit(RLIMIT_AS, lim->memory_bytes, lim->memory_bytes);
    set_limit(RLIMIT_FSIZE, lim->file_bytes, lim->file_bytes);
    set_limit(RLIMIT_CORE, 0, 0);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* ---- supervision ---- */

/* Processes whose pid namespace is (dev, ino); -1 if /proc cannot be read. */
static long count_namespace(dev_t dev, ino_t ino) {
    DIR *d = opendir("/proc");
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%.20s/ns/pid", e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || st.st_dev != dev || st.st_ino != ino) continue;
        /* A zombie has run its last instruction; bwrap's init ends as one, reparented to whatever
         * reaps orphans here, which may take its time. */
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        char stat_line[256] = "";
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t len = fd >= 0 ? read(fd, stat_line, sizeof stat_line - 1) : -1;
        if (fd >= 0) close(fd);
        stat_line[len > 0 ? len : 0] = 0;
        const char *paren = strrchr(stat_line, ')'); /* the command name may hold spaces and ')' */
        if (paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X')) continue;
        n++;
    }
    closedir(d);
    return n;
}

typedef struct {
    char text[512];
    size_t len;
    bool done;
    bool have_ns;
    dev_t ns_dev;
    ino_t ns_ino;
} info_state;

/* bwrap writes {"child-pid": N, ...} on the info fd once the namespaces exist; the namespace to
 * watch is that child's. */
static void read_info(int fd, info_state *s) {
    ssize_t n = read(fd, s->text + s->len, sizeof s->text - 1 - s->len);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) s->done = true;
        return;
    }
    s->len += (size_t)n;
    s->text[s->len] = 0;
    const char *key = strstr(s->text, "\"child-pid\"");
    if (s->have_ns || !key || !strchr(key, '}')) return;
    const char *colon = strchr(key, ':');
    long pid = colon ? strtol(colon + 1, NULL, 10) : 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/ns/pid", pid);
    struct stat st;
    if (pid > 0 && stat(path, &st) == 0) {
        s->have_ns = true;
        s->ns_dev = st.st_dev;
        s->ns_ino = st.st_ino;
    }
}

static void keep_output(cn_sandbox_result *r, size_t limit, const char *buf, size_t n) {
    r->output_total += n;
    size_t room = limit > r->output_len ? limit - r->output_len : 0;
    size_t take = n < room ? n : room;
    memcpy(r->output + r->output_len, buf, take);
    r->output_len += take;
    r->output[r->output_len] = 0;
}

void cn_sandbox_result_free(cn_sandbox_result *r) {
    free(r->output);
    r->output = NULL;
}

cn_status cn_sandbox_run(const cn_sandbox_config *cfg, const char *command, double deadline, cn_sandbox_result *r,
                         cn_error *err) {
    memset(r, 0, sizeof *r);
    r->exit_code = -1;
    size_t limit = (size_t)cfg->limits.output_bytes;
    if (!(r->output = malloc(limit + 1))) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    r->output[0] = 0;
    double start_real = now_real(), start = now_mono();
    double budget = (double)cfg->limits.timeout_s;
    if (deadline > 0 && deadline - start_real < budget) budget = deadline - start_real;
    double end = start + (budget > 0 ? budget : 0);

    char nproc[32], links[TOP_DIRS][256], fds[2][16];
    argv_list a = {0};
    build_argv(&a, cfg, command, nproc, links, fds);
    if (a.nomem) {
        free(a.v);
        cn_sandbox_result_free(r);
        return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    }
    const cn_cgroup_site *site = cfg->cgroup && cfg->cgroup->version != CN_CGROUP_NONE ? cfg->cgroup : NULL;
    bool memory_cgroup = site && site->memory_parent[0];
    int filter_fd = -1, out[2] = {-1, -1}, info[2] = {-1, -1}, go[2] = {-1, -1}, null_fd = -1;
    cn_status s = cn_sandbox_filter_fd(cfg->network, &filter_fd, err);
    if (s == CN_OK && (pipe2(out, O_CLOEXEC) != 0 || pipe2(info, O_CLOEXEC) != 0 ||
                       (site && pipe2(go, O_CLOEXEC) != 0) || (null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0))
        s = cn_fail(err, CN_ERR_IO, "sandbox: cannot create pipes: %s", strerror(errno));
    pid_t pid = -1;
    if (s == CN_OK && (pid = fork()) < 0) s = cn_fail(err, CN_ERR_IO, "sandbox: fork: %s", strerror(errno));
    if (pid == 0) exec_child(a.v, &cfg->limits, memory_cgroup, go[0], go[1], out[1], filter_fd, info[1], null_fd);
    free(a.v);
    if (filter_fd >= 0) close(filter_fd);
    if (null_fd >= 0) close(null_fd);
    if (out[1] >= 0) close(out[1]);
    if (info[1] >= 0) close(info[1]);
    if (go[0] >= 0) close(go[0]);
    /* The child waits on go until it is in its cgroup: pids.max = the command's processes plus
     * bwrap's monitor and its init in the new pid namespace. */
    cn_cgroup_call cg = {0};
    bool in_cgroup = false;
    if (s == CN_OK && site) {
        s = cn_cgroup_call_start(site, pid, cfg->limits.max_processes + 2, cfg->limits.memory_bytes, &cg, err);
        if (s == CN_OK && write(go[1], "g", 1) != 1)
            s = cn_fail(err, CN_ERR_IO, "sandbox: cannot release the child: %s", strerror(errno));
        in_cgroup = s == CN_OK;
        if (s != CN_OK) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
            cn_cgroup_call_end(&cg, DRAIN_GRACE_S);
        }
    }
    if (go[1] >= 0) close(go[1]);
    if (s != CN_OK) {
        if (out[0] >= 0) close(out[0]);
        if (info[0] >= 0) close(info[0]);
        cn_sandbox_result_free(r);
        return s;
    }
    setpgid(pid, pid); /* also in the child: whichever runs first, the group exists before any kill */
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(info[0], F_SETFL, O_NONBLOCK);

    info_state is = {0};
    bool out_open = true, exited = false, killed = false;
    double exited_at = 0, next_count = start;
    char buf[65536];
    for (;;) {
        double now = now_mono();
        if (!exited) {
            siginfo_t si = {0};
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid) {
                exited = true;
                exited_at = now;
            }
        }
        if (!out_open && exited) break;
        if (exited && now - exited_at > DRAIN_GRACE_S) break;
        if (!killed && now >= end) {
            r->timed_out = true;
            killed = true;
            kill(-pid, SIGKILL);
        }
        if (!killed && (in_cgroup || is.have_ns) && now >= next_count) {
            next_count = now + PROCESS_CHECK_S;
            /* With a cgroup the kernel has refused a fork at pids.max; without, bwrap's init is not
             * one of the command's processes. */
            bool over = in_cgroup ? cn_cgroup_call_pids_refused(&cg) > 0
                                  : count_namespace(is.ns_dev, is.ns_ino) > cfg->limits.max_processes + 1;
            if (over) {
                r->process_limit = true;
                killed = true;
                kill(-pid, SIGKILL);
            }
        }
        struct pollfd p[2] = {{.fd = out_open ? out[0] : -1, .events = POLLIN},
                              {.fd = is.done ? -1 : info[0], .events = POLLIN}};
        double wait_s = killed || exited ? 0.02 : end - now;
        if ((in_cgroup || is.have_ns) && !killed && wait_s > PROCESS_CHECK_S) wait_s = PROCESS_CHECK_S;
        if (!exited && wait_s > 0.05) wait_s = 0.05; /* waitid has no descriptor to poll */
        int ms = wait_s > 0 ? (int)(wait_s * 1000) + 1 : 0;
        if (poll(p, 2, ms) < 0 && errno != EINTR) break;
        if (p[1].revents) read_info(info[0], &is);
        /* Drain what is there (a flood arrives a pipe page at a time), a bounded amount per wake so
         * the deadline and the process count are still checked during an endless flood. */
        for (int k = 0; p[0].revents && out_open && k < 64; k++) {
            ssize_t n = read(out[0], buf, sizeof buf);
            if (n > 0) {
                keep_output(r, limit, buf, (size_t)n);
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) out_open = false;
            break;
        }
    }
    /* Whatever is left of the group goes now (nothing, after a normal exit); the leader is still
     * unreaped (WNOWAIT), so its pid, and the group id, cannot have been reused. */
    kill(-pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && !killed) r->exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r->term_signal = WTERMSIG(status);
    /* Everything in the cgroup goes, then the cgroup; without one, the namespace empties once its
     * init is gone: wait for that. Either way no process outlives the call. */
    if (in_cgroup) {
        r->oom_kills = cn_cgroup_call_oom_kills(&cg);
        r->cgroup_left = !cn_cgroup_call_end(&cg, 2 * DRAIN_GRACE_S);
    } else if (is.have_ns) {
        double until = now_mono() + DRAIN_GRACE_S;
        while (count_namespace(is.ns_dev, is.ns_ino) > 0 && now_mono() < until) {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    }
    for (ssize_t n; out_open && (n = read(out[0], buf, sizeof buf)) > 0;) keep_output(r, limit, buf, (size_t)n);
    close(out[0]);
    close(info[0]);
    r->elapsed_s = now_mono() - start;
    return CN_OK;
}
