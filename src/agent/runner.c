/* Runner identity, the run-directory lock and cleanup of a killed runner's temporaries (runner.h). */
#include "agent/runner.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void read_boot_id(char *out, size_t size) {
    out[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    if (fgets(out, (int)size, f)) out[strcspn(out, "\n")] = 0;
    fclose(f);
}

/* Field 22 (starttime) of /proc/PID/stat; the command name (field 2) may hold spaces and
 * parentheses, so parsing starts after its last ')'. */
static int64_t read_start_ticks(int64_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    p++;
    /* After ')' come field 3 (state) ... field 22 (starttime): skip 19 fields. */
    for (int field = 3; field < 22 && p; field++) p = strchr(p + 1, ' ');
    return p ? strtoll(p + 1, NULL, 10) : 0;
}

void cn_runner_self(cn_runner_identity *id) {
    memset(id, 0, sizeof *id);
    id->pid = (int64_t)getpid();
    read_boot_id(id->boot_id, sizeof id->boot_id);
    id->start_ticks = read_start_ticks(id->pid);
}

bool cn_runner_alive(const cn_runner_identity *id) {
    if (id->pid <= 0 || id->pid > INT_MAX) return false;
    char boot[64];
    read_boot_id(boot, sizeof boot);
    if (id->boot_id[0] && boot[0] && strcmp(boot, id->boot_id) != 0) return false; /* rebooted since */
    if (kill((pid_t)id->pid, 0) != 0 && errno == ESRCH) return false;
    int64_t ticks = read_start_ticks(id->pid);
    return !(id->start_ticks && ticks && ticks != id->start_ticks); /* pid reused by a later process */
}

cn_status cn_runner_lock(const char *run_dir, const char *run_id, int *fd_out, cn_error *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/runner.lock", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    /* flock belongs to the open file description: the kernel drops it when the holder dies,
     * however it dies, so a crashed runner never leaves the run locked. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return cn_fail(err, CN_ERR_BUSY, "run %s is already being executed by another process (see agent status %s)",
                           run_id, run_id);
        return cn_fail(err, CN_ERR_IO, "cannot lock %s: %s", path, strerror(e));
    }
    *fd_out = fd;
    return CN_OK;
}

void cn_runner_unlock(int fd) {
    if (fd >= 0) close(fd);
}

static bool is_temporary_of(const char *name, const int64_t *pids, size_t n_pids) {
    static const char prefix[] = ".clawnet-tmp-";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) return false;
    const char *digits = name + sizeof prefix - 1;
    char *end;
    errno = 0;
    long long pid = strtoll(digits, &end, 10);
    if (errno || end == digits || *end) return false;
    for (size_t i = 0; i < n_pids; i++)
        if (pids[i] == pid) return true;
    return false;
}

/* dir_fd is consumed. Depth-limited so a pathological tree cannot exhaust descriptors. */
static cn_status clean_dir(int dir_fd, int depth, const int64_t *pids, size_t n_pids, int64_t *removed, cn_error *err) {
    DIR *d = fdopendir(dir_fd);
    if (!d) {
        close(dir_fd);
        return cn_fail(err, CN_ERR_IO, "workspace cleanup: %s", strerror(errno));
    }
    cn_status s = CN_OK;
    struct dirent *e;
    while (s == CN_OK && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= 64) continue;
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) s = clean_dir(sub, depth + 1, pids, n_pids, removed, err);
        } else if (S_ISREG(st.st_mode) && is_temporary_of(e->d_name, pids, n_pids)) {
            if (unlinkat(dirfd(d), e->d_name, 0) == 0) (*removed)++;
        }
    }
    closedir(d);
    return s;
}

cn_status cn_runner_clean_temporaries(const cn_workspace *ws, const int64_t *pids, size_t n_pids, int64_t *removed,
                                      cn_error *err) {
    *removed = 0;
    if (!n_pids) return CN_OK;
    int fd = openat(ws->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return cn_fail(err, CN_ERR_IO, "workspace cleanup: %s", strerror(errno));
    return clean_dir(fd, 0, pids, n_pids, removed, err);
}
