/* Who is executing a run: one process at a time holds an exclusive flock on the run directory's
 * runner.lock (a second `agent run`/`resume` of the same run is refused), and its identity (pid,
 * the host's boot id, the process start time in clock ticks since boot) is journaled when it
 * starts, so `agent status` can tell a live run from one whose runner died: a pid alone is not
 * enough, since pids are reused and do not survive a reboot (docs/agent.md, "Runners"). */
#ifndef CN_AGENT_RUNNER_H
#define CN_AGENT_RUNNER_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/workspace.h"
#include "base/error.h"

typedef struct {
    int64_t pid;
    char boot_id[64];    /* /proc/sys/kernel/random/boot_id, "" if unreadable */
    int64_t start_ticks; /* field 22 of /proc/PID/stat; 0 if unreadable */
} cn_runner_identity;

/* This process's identity. */
void cn_runner_self(cn_runner_identity *id);

/* Whether the process described by id is still running on this host: same boot, pid present and
 * its start time unchanged (a reused pid has a later start time). */
bool cn_runner_alive(const cn_runner_identity *id);

/* Takes the run directory's lock without waiting; *fd_out holds it until cn_runner_unlock. A lock
 * held by another process is CN_ERR_BUSY with a message naming the run. */
cn_status cn_runner_lock(const char *run_dir, const char *run_id, int *fd_out, cn_error *err);
void cn_runner_unlock(int fd);

/* Removes `.clawnet-tmp-PID` files (workspace.c's write temporaries) anywhere beneath the
 * workspace, for each pid in pids: the temporaries of earlier runners of this run that a kill left
 * between write and rename. Never follows symlinks; files of other pids are left alone. Returns
 * the number removed in *removed. */
cn_status cn_runner_clean_temporaries(const cn_workspace *ws, const int64_t *pids, size_t n_pids, int64_t *removed,
                                      cn_error *err);

#endif
