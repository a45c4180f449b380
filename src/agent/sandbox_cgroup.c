/* A cgroup per shell call (sandbox_cgroup.h; kernel: Documentation/admin-guide/cgroup-v2.rst and
 * cgroup-v1/pids.rst, memory.rst). */
#include "agent/sandbox_cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- small file helpers ---- */

/* Writes text to dir/name in one write(2) (a cgroup file takes one value per write). */
static int write_file(const char *dir, const char *name, const char *text) {
    char path[2 * CN_CGROUP_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int saved = errno;
    close(fd);
    errno = saved;
    return w == (ssize_t)n ? 0 : -1;
}

/* Reads dir/name (or path when dir is NULL) into buf, NUL-terminated; -1 on failure. */
static ssize_t read_file(const char *dir, const char *name, char *buf, size_t cap) {
    char path[2 * CN_CGROUP_PATH_MAX];
    if (dir) snprintf(path, sizeof path, "%s/%s", dir, name);
    else snprintf(path, sizeof path, "%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = 0;
    for (ssize_t n; len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            close(fd);
            return -1;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

static bool file_exists(const char *dir, const char *name) {
    char path[2 * CN_CGROUP_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* A whole word of a space- or comma-separated list ("cpu memory pids", "rw,pids"). */
static bool has_word(const char *list, const char *word) {
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n) {
        bool start = p == list || p[-1] == ' ' || p[-1] == ',' || p[-1] == '\n';
        bool end = p[n] == 0 || p[n] == ' ' || p[n] == ',' || p[n] == '\n';
        if (start && end) return true;
    }
    return false;
}

/* The number after "key " on its own line of a flat-keyed cgroup file ("max 3", "oom_kill 1"). */
static long keyed_value(const char *dir, const char *file, const char *key) {
    char buf[1024];
    if (!dir[0] || read_file(dir, file, buf, sizeof buf) < 0) return -1;
    size_t n = strlen(key);
    for (const char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
        if (!strncmp(line, key, n) && line[n] == ' ') return strtol(line + n + 1, NULL, 10);
    return -1;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- where our cgroups are (pure) ---- */

/* dir = mount point + our path below the mount's root, or "" if the path is not under it (a
 * cgroup namespace or bind mount showing another part of the hierarchy). */
static void join_mount(char *dir, const char *mount_root, const char *mount_point, const char *path) {
    dir[0] = 0;
    size_t r = strcmp(mount_root, "/") ? strlen(mount_root) : 0;
    if (r && (strncmp(path, mount_root, r) != 0 || (path[r] != 0 && path[r] != '/'))) return;
    const char *rest = path + r;
    if (!strcmp(rest, "/")) rest = "";
    int n = snprintf(dir, CN_CGROUP_PATH_MAX, "%s%s", mount_point, rest);
    if (n < 0 || n >= CN_CGROUP_PATH_MAX) dir[0] = 0;
}

/* The runner's own v2 leaf (clawnet-runner-SELF) stands for its parent. */
static void strip_runner_leaf(char *path, pid_t self) {
    char leaf[64];
    snprintf(leaf, sizeof leaf, "/clawnet-runner-%ld", (long)self);
    size_t n = strlen(path), l = strlen(leaf);
    if (n >= l && !strcmp(path + n - l, leaf)) {
        path[n - l] = 0;
        if (!path[0]) strcpy(path, "/");
    }
}

void cn_cgroup_paths_parse(const char *proc_cgroup, const char *mountinfo, pid_t self, cn_cgroup_paths *out) {
    memset(out, 0, sizeof *out);
    char v2_path[CN_CGROUP_PATH_MAX] = "", pids_path[CN_CGROUP_PATH_MAX] = "", mem_path[CN_CGROUP_PATH_MAX] = "";
    bool have_v2 = false;
    /* Lines "ID:CONTROLLERS:PATH"; v2 is "0::PATH". */
    for (const char *line = proc_cgroup; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[CN_CGROUP_PATH_MAX + 256];
        if (len < sizeof l) {
            memcpy(l, line, len);
            l[len] = 0;
            char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2 && c2[1] == '/') {
                *c1 = 0;
                *c2 = 0;
                const char *controllers = c1 + 1, *path = c2 + 1;
                if (!strcmp(l, "0") && !controllers[0]) {
                    snprintf(v2_path, sizeof v2_path, "%s", path);
                    have_v2 = true;
                } else {
                    if (has_word(controllers, "pids")) snprintf(pids_path, sizeof pids_path, "%s", path);
                    if (has_word(controllers, "memory")) snprintf(mem_path, sizeof mem_path, "%s", path);
                }
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    if (have_v2) strip_runner_leaf(v2_path, self);
    /* mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS".
     * Mount points with escaped characters (\040) are skipped rather than unescaped. */
    for (const char *line = mountinfo; line && *line;) {
        const char *start = line, *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char l[2 * CN_CGROUP_PATH_MAX];
        line = eol ? eol + 1 : NULL;
        if (len >= sizeof l) continue;
        memcpy(l, start, len);
        l[len] = 0;
        char *sep = strstr(l, " - ");
        if (!sep) continue;
        *sep = 0;
        char *fields[6] = {0};
        int nf = 0;
        for (char *save = NULL, *t = strtok_r(l, " ", &save); t && nf < 6; t = strtok_r(NULL, " ", &save))
            fields[nf++] = t;
        if (nf < 5 || strchr(fields[3], '\\') || strchr(fields[4], '\\')) continue;
        char *save = NULL, *fstype = strtok_r(sep + 3, " ", &save), *source = strtok_r(NULL, " ", &save),
             *super = strtok_r(NULL, " ", &save);
        if (!fstype || !source || !super) continue;
        if (!strcmp(fstype, "cgroup2") && have_v2 && !out->v2_dir[0]) {
            join_mount(out->v2_dir, fields[3], fields[4], v2_path);
            out->v2_is_root = out->v2_dir[0] && !strcmp(v2_path, "/") && !strcmp(fields[3], "/");
        } else if (!strcmp(fstype, "cgroup")) {
            if (pids_path[0] && has_word(super, "pids") && !out->v1_pids_dir[0])
                join_mount(out->v1_pids_dir, fields[3], fields[4], pids_path);
            if (mem_path[0] && has_word(super, "memory") && !out->v1_memory_dir[0])
                join_mount(out->v1_memory_dir, fields[3], fields[4], mem_path);
        }
    }
}

/* ---- finding and checking the site ---- */

/* Kills every process listed in dir/cgroup.procs until none is left or the grace runs out. The
 * pids.max of the cgroup bounds how many can appear between two passes, so this converges; a pid
 * is listed only while its process is in the cgroup, and pids are handed out cyclically, so a
 * listed pid reused by another process between the read and the kill would need the whole pid
 * space to wrap in between. */
static bool empty_cgroup(const char *dir, double until) {
    char buf[65536];
    for (;;) {
        if (read_file(dir, "cgroup.procs", buf, sizeof buf) < 0) return errno == ENOENT;
        if (!buf[0]) return true;
        for (char *p = buf, *end; *p; p = end) {
            long pid = strtol(p, &end, 10);
            if (end == p) break;
            if (pid > 1) kill((pid_t)pid, SIGKILL);
            while (*end == '\n') end++;
        }
        if (now_mono() > until) return false;
        sleep_s(0.002);
    }
}

/* v2: every process of the cgroup and its descendants at once (kernel 5.14+), else one by one. */
static bool kill_cgroup(const cn_cgroup_site *site, const char *dir, double until) {
    if (site->version == CN_CGROUP_V2 && file_exists(dir, "cgroup.kill")) write_file(dir, "cgroup.kill", "1");
    return empty_cgroup(dir, until);
}

static bool remove_cgroup(const char *dir, double until) {
    for (;;) {
        if (rmdir(dir) == 0 || errno == ENOENT) return true;
        if (errno != EBUSY || now_mono() > until) return false;
        sleep_s(0.002); /* the last processes are still exiting */
    }
}

/* Removes the call, probe and runner cgroups of runners that no longer exist. */
static void sweep(const cn_cgroup_site *site, const char *parent) {
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        static const char *const prefixes[] = {"clawnet-sandbox-", "clawnet-probe-", "clawnet-runner-"};
        for (size_t i = 0; i < 3; i++) {
            size_t n = strlen(prefixes[i]);
            if (strncmp(e->d_name, prefixes[i], n) != 0) continue;
            char *end;
            long runner = strtol(e->d_name + n, &end, 10);
            if (end == e->d_name + n || runner <= 0 || runner == (long)getpid()) break;
            if (kill((pid_t)runner, 0) == 0 || errno != ESRCH) break; /* alive (or not ours to judge) */
            char dir[CN_CGROUP_PATH_MAX + 300];
            snprintf(dir, sizeof dir, "%s/%s", parent, e->d_name);
            double until = now_mono() + 0.5;
            /* A runner leaf holds whatever that runner left running: not ours to kill. */
            if (i < 2) kill_cgroup(site, dir, until);
            remove_cgroup(dir, until);
            break;
        }
    }
    closedir(d);
}

/* Creates, limits and removes a probe cgroup under parent. */
static bool probe_parent(const char *parent, const char *limit_file, const char *limit, char *why, size_t cap) {
    char dir[CN_CGROUP_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/clawnet-probe-%ld", parent, (long)getpid());
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(why, cap, "cannot create a cgroup in %.300s: %s", parent, strerror(errno));
        return false;
    }
    bool ok = write_file(dir, limit_file, limit) == 0;
    if (!ok) snprintf(why, cap, "cannot write %.300s/%s: %s", dir, limit_file, strerror(errno));
    rmdir(dir);
    return ok;
}

void cn_cgroup_site_none(cn_cgroup_site *site, const char *why) {
    memset(site, 0, sizeof *site);
    snprintf(site->why, sizeof site->why, "%s", why);
    snprintf(site->containment, sizeof site->containment,
             "no cgroup: RLIMIT_NPROC and a process-count watchdog, RLIMIT_AS per process");
}

static void describe(cn_cgroup_site *site) {
    snprintf(site->containment, sizeof site->containment, "cgroup v%d: pids.max per call, %s", (int)site->version,
             site->memory_parent[0] ? "memory limit per sandbox" : "RLIMIT_AS per process (no memory cgroup)");
}

/* v2: our cgroup P must offer pids; enabling it for P's children needs P empty of processes unless
 * P is the root, so the runner moves into its own leaf first (sandbox_cgroup.h). */
static bool find_v2(cn_cgroup_site *site, const cn_cgroup_paths *paths, char *why, size_t cap) {
    const char *p = paths->v2_dir;
    char controllers[512], subtree[512];
    if (read_file(p, "cgroup.controllers", controllers, sizeof controllers) < 0 || !has_word(controllers, "pids")) {
        snprintf(why, cap, "cgroup v2 at %.200s does not offer the pids controller", p);
        return false;
    }
    if (read_file(p, "cgroup.subtree_control", subtree, sizeof subtree) < 0) subtree[0] = 0;
    char leaf[CN_CGROUP_PATH_MAX + 64];
    snprintf(leaf, sizeof leaf, "%s/clawnet-runner-%ld", p, (long)getpid());
    bool moved = false;
    if (!has_word(subtree, "pids") && write_file(p, "cgroup.subtree_control", "+pids") != 0) {
        int first = errno;
        /* EBUSY: processes in P (us at least): move this process into a leaf and try again. */
        if (first == EBUSY && !paths->v2_is_root && (mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
            write_file(leaf, "cgroup.procs", "0") == 0) {
            moved = true;
            if (write_file(p, "cgroup.subtree_control", "+pids") == 0) first = 0;
            else first = errno;
        }
        if (first) {
            if (moved) {
                char pid[32];
                snprintf(pid, sizeof pid, "%ld", (long)getpid());
                write_file(p, "cgroup.procs", pid);
                rmdir(leaf);
            }
            snprintf(why, cap,
                     "cgroup v2: cannot enable pids for the children of %.200s (%s; delegate a cgroup to the runner "
                     "alone, e.g. systemd-run --user -p Delegate=yes --scope)",
                     p, strerror(first));
            return false;
        }
    }
    snprintf(site->pids_parent, sizeof site->pids_parent, "%s", p);
    site->version = CN_CGROUP_V2;
    if (!probe_parent(p, "pids.max", "64", why, cap)) {
        site->version = CN_CGROUP_NONE;
        return false;
    }
    if (has_word(controllers, "memory") &&
        (has_word(subtree, "memory") || write_file(p, "cgroup.subtree_control", "+memory") == 0) &&
        probe_parent(p, "memory.max", "max", site->why, sizeof site->why))
        snprintf(site->memory_parent, sizeof site->memory_parent, "%s", p);
    else if (!site->why[0])
        snprintf(site->why, sizeof site->why, "cgroup v2 at %.300s: the memory controller is not available", p);
    return true;
}

static bool find_v1(cn_cgroup_site *site, const cn_cgroup_paths *paths, char *why, size_t cap) {
    if (!paths->v1_pids_dir[0]) {
        snprintf(why, cap, "no cgroup v1 pids hierarchy mounted");
        return false;
    }
    if (!probe_parent(paths->v1_pids_dir, "pids.max", "64", why, cap)) return false;
    site->version = CN_CGROUP_V1;
    snprintf(site->pids_parent, sizeof site->pids_parent, "%s", paths->v1_pids_dir);
    if (!paths->v1_memory_dir[0])
        snprintf(site->why, sizeof site->why, "no cgroup v1 memory hierarchy mounted");
    else if (probe_parent(paths->v1_memory_dir, "memory.limit_in_bytes", "1073741824", site->why, sizeof site->why))
        snprintf(site->memory_parent, sizeof site->memory_parent, "%s", paths->v1_memory_dir);
    return true;
}

void cn_cgroup_site_find(cn_cgroup_site *site) {
    memset(site, 0, sizeof *site);
    static const size_t cap = 1 << 16;
    char *cg = malloc(cap), *mi = malloc(cap);
    if (!cg || !mi || read_file(NULL, "/proc/self/cgroup", cg, cap) < 0 ||
        read_file(NULL, "/proc/self/mountinfo", mi, cap) < 0) {
        free(cg);
        free(mi);
        cn_cgroup_site_none(site, "cannot read /proc/self/cgroup or /proc/self/mountinfo");
        return;
    }
    cn_cgroup_paths paths;
    cn_cgroup_paths_parse(cg, mi, getpid(), &paths);
    free(cg);
    free(mi);
    char why_v2[512] = "cgroup2 not mounted", why_v1[512] = "";
    bool ok = (paths.v2_dir[0] && find_v2(site, &paths, why_v2, sizeof why_v2)) ||
              find_v1(site, &paths, why_v1, sizeof why_v1);
    if (!ok) {
        char why[sizeof site->why];
        snprintf(why, sizeof why, "%s; %s", why_v2, why_v1);
        cn_cgroup_site_none(site, why);
        return;
    }
    describe(site);
    sweep(site, site->pids_parent);
    if (site->version == CN_CGROUP_V1 && site->memory_parent[0]) sweep(site, site->memory_parent);
}

/* ---- one call ---- */

static cn_status make_dir(const char *parent, pid_t child, char *dir, cn_error *err) {
    int n = snprintf(dir, CN_CGROUP_PATH_MAX, "%s/clawnet-sandbox-%ld-%ld", parent, (long)getpid(), (long)child);
    if (n < 0 || n >= CN_CGROUP_PATH_MAX) return cn_fail(err, CN_ERR_ARG, "sandbox cgroup: path too long under %s", parent);
    if (mkdir(dir, 0755) != 0)
        return cn_fail(err, CN_ERR_IO, "sandbox cgroup: cannot create %s: %s", dir, strerror(errno));
    return CN_OK;
}

static cn_status set_value(const char *dir, const char *file, long long value, cn_error *err) {
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    if (write_file(dir, file, text) != 0)
        return cn_fail(err, CN_ERR_IO, "sandbox cgroup: cannot write %s to %s/%s: %s", text, dir, file, strerror(errno));
    return CN_OK;
}

cn_status cn_cgroup_call_start(const cn_cgroup_site *site, pid_t child, int64_t max_pids, int64_t memory_bytes,
                               cn_cgroup_call *c, cn_error *err) {
    memset(c, 0, sizeof *c);
    c->site = site;
    cn_status s = make_dir(site->pids_parent, child, c->pids_dir, err);
    c->created_pids = s == CN_OK;
    if (s == CN_OK) s = set_value(c->pids_dir, "pids.max", (long long)max_pids, err);
    if (s == CN_OK && site->memory_parent[0]) {
        if (site->version == CN_CGROUP_V2) {
            s = set_value(c->pids_dir, "memory.max", (long long)memory_bytes, err);
            /* Swap would let the sandbox hold more than the limit; absent without swap accounting. */
            if (s == CN_OK && file_exists(c->pids_dir, "memory.swap.max")) write_file(c->pids_dir, "memory.swap.max", "0");
        } else {
            s = make_dir(site->memory_parent, child, c->memory_dir, err);
            c->created_memory = s == CN_OK;
            if (s == CN_OK) s = set_value(c->memory_dir, "memory.limit_in_bytes", (long long)memory_bytes, err);
            /* memory+swap no larger than memory: no swapping past the limit (absent without swap
             * accounting; must follow limit_in_bytes, which it may never be below). */
            if (s == CN_OK && file_exists(c->memory_dir, "memory.memsw.limit_in_bytes"))
                set_value(c->memory_dir, "memory.memsw.limit_in_bytes", (long long)memory_bytes, &(cn_error){0});
        }
    }
    if (s == CN_OK) s = set_value(c->pids_dir, "cgroup.procs", (long long)child, err);
    if (s == CN_OK && c->created_memory) s = set_value(c->memory_dir, "cgroup.procs", (long long)child, err);
    if (s != CN_OK) cn_cgroup_call_end(c, 0.5);
    return s;
}

long cn_cgroup_call_pids_refused(const cn_cgroup_call *c) { return keyed_value(c->pids_dir, "pids.events", "max"); }

long cn_cgroup_call_oom_kills(const cn_cgroup_call *c) {
    if (!c->site->memory_parent[0]) return 0;
    long n = c->site->version == CN_CGROUP_V2 ? keyed_value(c->pids_dir, "memory.events", "oom_kill")
                                              : keyed_value(c->memory_dir, "memory.oom_control", "oom_kill");
    return n > 0 ? n : 0;
}

long cn_cgroup_call_pids_peak(const cn_cgroup_call *c) {
    char buf[64];
    if (read_file(c->pids_dir, "pids.peak", buf, sizeof buf) < 0) return -1;
    return strtol(buf, NULL, 10);
}

bool cn_cgroup_call_end(cn_cgroup_call *c, double grace_s) {
    double until = now_mono() + grace_s;
    bool ok = true;
    if (c->created_pids) ok &= kill_cgroup(c->site, c->pids_dir, until);
    if (c->created_memory) ok &= kill_cgroup(c->site, c->memory_dir, until);
    if (c->created_pids) ok &= remove_cgroup(c->pids_dir, until);
    if (c->created_memory) ok &= remove_cgroup(c->memory_dir, until);
    c->created_pids = c->created_memory = false;
    return ok;
}
