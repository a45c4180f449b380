/* Workspace confinement for the file tools (workspace.h). */
#include "agent/workspace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static cn_status check_relative(const char *path, cn_error *err) {
    if (!path[0]) return cn_fail(err, CN_ERR_ARG, "path is empty");
    if (path[0] == '/') return cn_fail(err, CN_ERR_ARG, "path \"%s\" is absolute: paths are relative to the workspace", path);
    if (strlen(path) >= PATH_MAX) return cn_fail(err, CN_ERR_ARG, "path is too long");
    return CN_OK;
}

/* Fallback when the kernel has no openat2: resolve what exists and require it under the root. */
static int open_beneath_realpath(const cn_workspace *ws, const char *path, int flags, mode_t mode) {
    char full[PATH_MAX * 2], resolved[PATH_MAX];
    snprintf(full, sizeof full, "%s/%s", ws->root, path);
    char *target = realpath(full, resolved);
    if (!target) {
        if (errno != ENOENT || !(flags & O_CREAT)) return -1;
        /* A new file: its parent must resolve beneath the root and the name may not be "..". */
        char parent[PATH_MAX * 2];
        snprintf(parent, sizeof parent, "%s", full);
        char *slash = strrchr(parent, '/');
        if (!strcmp(slash + 1, "..") || !strcmp(slash + 1, ".")) return errno = EXDEV, -1;
        *slash = 0;
        if (!realpath(parent, resolved)) return -1;
        size_t n = strlen(resolved);
        snprintf(resolved + n, sizeof resolved - n, "/%s", slash + 1);
    }
    size_t root_len = strlen(ws->root);
    if (strncmp(resolved, ws->root, root_len) != 0 || (resolved[root_len] != '/' && resolved[root_len] != 0))
        return errno = EXDEV, -1;
    return open(resolved, flags | O_NOFOLLOW, mode);
}

static int open_beneath(const cn_workspace *ws, const char *path, int flags, mode_t mode) {
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = (flags & O_CREAT) ? mode : 0,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, ws->root_fd, path, &how, sizeof how);
    if (fd < 0 && errno == ENOSYS) return open_beneath_realpath(ws, path, flags | O_CLOEXEC, mode);
    return (int)fd;
}

static cn_status open_fail(const char *path, cn_error *err) {
    if (errno == EXDEV || errno == ELOOP)
        return cn_fail(err, CN_ERR_ARG, "path \"%s\" leads outside the workspace (refused)", path);
    return cn_fail(err, CN_ERR_IO, "%s: %s", path, strerror(errno));
}

cn_status cn_workspace_open(const char *dir, cn_workspace *ws, cn_error *err) {
    memset(ws, 0, sizeof *ws);
    ws->root_fd = -1;
    if (!realpath(dir, ws->root)) return cn_fail(err, CN_ERR_IO, "workspace %s: %s", dir, strerror(errno));
    ws->root_fd = open(ws->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ws->root_fd < 0) return cn_fail(err, CN_ERR_IO, "workspace %s: %s", dir, strerror(errno));
    return CN_OK;
}

void cn_workspace_close(cn_workspace *ws) {
    if (ws->root_fd >= 0) close(ws->root_fd);
    ws->root_fd = -1;
}

cn_status cn_workspace_read_prefix(const cn_workspace *ws, const char *path, size_t max_bytes, char **data,
                                   size_t *len, uint64_t *size, cn_error *err) {
    *data = NULL;
    *len = 0;
    *size = 0;
    cn_status s = check_relative(path, err);
    if (s != CN_OK) return s;
    int fd = open_beneath(ws, path, O_RDONLY, 0);
    if (fd < 0) return open_fail(path, err);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cn_fail(err, CN_ERR_ARG, "%s is not a regular file", path);
    }
    *size = (uint64_t)st.st_size;
    size_t want = (size_t)st.st_size < max_bytes ? (size_t)st.st_size : max_bytes;
    char *buf = malloc(want + 1);
    size_t got = 0;
    while (buf && got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    buf[got] = 0;
    *data = buf;
    *len = got;
    return CN_OK;
}

cn_status cn_workspace_read(const cn_workspace *ws, const char *path, size_t max_bytes, char **data, size_t *len,
                            cn_error *err) {
    uint64_t size;
    cn_status s = cn_workspace_read_prefix(ws, path, max_bytes, data, len, &size, err);
    if (s == CN_OK && size > max_bytes) {
        free(*data);
        *data = NULL;
        *len = 0;
        return cn_fail(err, CN_ERR_ARG, "%s is %llu bytes, more than the %zu this tool reads", path,
                       (unsigned long long)size, max_bytes);
    }
    return s;
}

/* Opens (creating as needed) the directory holding path's last component; *base points into path. */
static cn_status open_parent(const cn_workspace *ws, const char *path, int *dir_fd, const char **base, cn_error *err) {
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!**base || !strcmp(*base, ".") || !strcmp(*base, ".."))
        return cn_fail(err, CN_ERR_ARG, "path \"%s\" does not name a file", path);
    if (!slash) {
        *dir_fd = dup(ws->root_fd);
        return *dir_fd < 0 ? cn_fail(err, CN_ERR_IO, "dup: %s", strerror(errno)) : CN_OK;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open_beneath(ws, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0 && errno == ENOENT) {
        /* Create each missing component, each one resolved beneath the root again. */
        for (char *p = dir;; p++) {
            if (*p == '/' || *p == 0) {
                char saved = *p;
                *p = 0;
                if (dir[0] && mkdirat(ws->root_fd, dir, 0755) != 0 && errno != EEXIST) {
                    *p = saved;
                    break;
                }
                int check = open_beneath(ws, dir, O_RDONLY | O_DIRECTORY, 0);
                if (check < 0) {
                    *p = saved;
                    return open_fail(path, err);
                }
                close(check);
                *p = saved;
                if (!saved) break;
            }
        }
        fd = open_beneath(ws, dir, O_RDONLY | O_DIRECTORY, 0);
    }
    if (fd < 0) return open_fail(path, err);
    *dir_fd = fd;
    return CN_OK;
}

cn_status cn_workspace_write(const cn_workspace *ws, const char *path, const char *data, size_t len, cn_error *err) {
    cn_status s = check_relative(path, err);
    if (s != CN_OK) return s;
    int dir_fd;
    const char *base;
    if ((s = open_parent(ws, path, &dir_fd, &base, err)) != CN_OK) return s;
    char tmp[NAME_MAX + 1];
    snprintf(tmp, sizeof tmp, ".clawnet-tmp-%ld", (long)getpid());
    int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        close(dir_fd);
        return open_fail(path, err);
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n <= 0) break;
        done += (size_t)n;
    }
    bool ok = done == len && fsync(fd) == 0;
    close(fd);
    /* renameat replaces a symlink at the final name rather than writing through it. */
    if (!ok || renameat(dir_fd, tmp, dir_fd, base) != 0) {
        int e = errno;
        unlinkat(dir_fd, tmp, 0);
        close(dir_fd);
        return cn_fail(err, CN_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    fsync(dir_fd);
    close(dir_fd);
    return CN_OK;
}

cn_status cn_workspace_append(const cn_workspace *ws, const char *path, const char *data, size_t len, cn_error *err) {
    cn_status s = check_relative(path, err);
    if (s != CN_OK) return s;
    int fd = open_beneath(ws, path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return open_fail(path, err);
    bool ok = write(fd, data, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    close(fd);
    return ok ? CN_OK : cn_fail(err, CN_ERR_IO, "cannot append to %s: %s", path, strerror(e));
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

cn_status cn_workspace_list(const cn_workspace *ws, const char *path, char **listing, cn_error *err) {
    *listing = NULL;
    const char *p = path[0] ? path : ".";
    cn_status s = check_relative(p, err);
    if (s != CN_OK) return s;
    int fd = open_beneath(ws, p, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return open_fail(path, err);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return cn_fail(err, CN_ERR_IO, "%s: %s", path, strerror(errno));
    }
    char **names = NULL;
    size_t n = 0, cap = 0, total = 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strncmp(e->d_name, ".clawnet-tmp-", 13)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        struct stat st;
        bool is_dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        size_t len = strlen(e->d_name);
        names[n] = malloc(len + 2);
        if (!names[n]) break;
        memcpy(names[n], e->d_name, len);
        names[n][len] = is_dir ? '/' : 0;
        names[n][len + 1] = 0;
        total += len + 2;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, compare_names);
    char *out = malloc(total);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (out) at += (size_t)sprintf(out + at, "%s\n", names[i]);
        free(names[i]);
    }
    free(names);
    if (!out) return cn_fail(err, CN_ERR_NOMEM, "out of memory");
    out[at] = 0;
    *listing = out;
    return CN_OK;
}
