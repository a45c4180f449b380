/* The agent's workspace: every file tool resolves paths beneath one directory. Paths must be
 * relative; resolution uses openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so "..", absolute
 * symlinks and relative symlinks that lead outside fail in the kernel, race-free (Linux >= 5.6).
 * Where openat2 is missing (ENOSYS) the fallback resolves the path with realpath and requires
 * the result to lie under the workspace's realpath (racy against a concurrent symlink swap:
 * docs/agent.md). Writes go to a temporary file, fsync, then renameat, so a crash never leaves a
 * half-written file. */
#ifndef CN_AGENT_WORKSPACE_H
#define CN_AGENT_WORKSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    int root_fd;
    char root[4096]; /* realpath of the workspace */
} cn_workspace;

cn_status cn_workspace_open(const char *dir, cn_workspace *ws, cn_error *err);
void cn_workspace_close(cn_workspace *ws);

/* Reads the first max_bytes (or fewer) bytes of a regular file; *size gets its size. */
cn_status cn_workspace_read_prefix(const cn_workspace *ws, const char *path, size_t max_bytes, char **data,
                                   size_t *len, uint64_t *size, cn_error *err);

/* Reads a whole regular file (at most max_bytes; larger is an error naming the size). */
cn_status cn_workspace_read(const cn_workspace *ws, const char *path, size_t max_bytes, char **data, size_t *len,
                            cn_error *err);
/* Replaces path with data atomically, creating parent directories. */
cn_status cn_workspace_write(const cn_workspace *ws, const char *path, const char *data, size_t len, cn_error *err);
/* Appends data and fsyncs (creates the file if needed). */
cn_status cn_workspace_append(const cn_workspace *ws, const char *path, const char *data, size_t len, cn_error *err);
/* Names in a directory, sorted, directories with a trailing '/', one per line (malloc'd). */
cn_status cn_workspace_list(const cn_workspace *ws, const char *path, char **listing, cn_error *err);

#endif
