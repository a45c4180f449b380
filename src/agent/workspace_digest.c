/* The workspace tree digest (workspace_digest.h). */
#include "agent/workspace_digest.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    crypto_hash_sha256_state h;
    long entries;
} walk_state;

static void hash_entry(walk_state *w, int depth, const char *name, const struct stat *st) {
    struct {
        int64_t depth, mode, size, ino, mtime_s, mtime_ns;
    } rec = {depth, st->st_mode, st->st_size, (int64_t)st->st_ino, st->st_mtim.tv_sec, st->st_mtim.tv_nsec};
    crypto_hash_sha256_update(&w->h, (const unsigned char *)&rec, sizeof rec);
    crypto_hash_sha256_update(&w->h, (const unsigned char *)name, strlen(name) + 1);
}

/* Takes ownership of dir_fd. Readdir order is stable for a directory that did not change, and a
 * directory that changed changes the digest anyway, so no sorting is needed. */
static bool walk(walk_state *w, int dir_fd, int depth) {
    if (depth > 256) {
        close(dir_fd);
        return false;
    }
    DIR *d = fdopendir(dir_fd);
    if (!d) {
        close(dir_fd);
        return false;
    }
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (++w->entries > CN_WORKSPACE_DIGEST_MAX_ENTRIES) {
            ok = false;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; /* gone meanwhile */
        hash_entry(w, depth, e->d_name, &st);
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) ok = walk(w, sub, depth + 1);
        }
    }
    closedir(d);
    return ok;
}

bool cn_workspace_digest(int root_fd, unsigned char out[crypto_hash_sha256_BYTES]) {
    int fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    walk_state w = {.entries = 0};
    crypto_hash_sha256_init(&w.h);
    bool ok = walk(&w, fd, 0);
    crypto_hash_sha256_final(&w.h, out);
    return ok;
}
