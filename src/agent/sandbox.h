/* Runs one shell command in a bubblewrap sandbox (docs/agent.md, "The shell sandbox"):
 *   - new user, pid, ipc, uts and cgroup namespaces, and a new (empty) network namespace unless
 *     the policy grants the network; all capabilities dropped; a new session (no terminal);
 *   - a fresh root with /usr, /bin, /sbin, /lib*, /etc and the policy's extra paths read-only,
 *     /proc of the new pid namespace, a minimal /dev, a private tmpfs /tmp, and the workspace
 *     bound read-write at /workspace (the working directory): the only writable host path;
 *   - the seccomp filter of sandbox_filter.h;
 *   - where a cgroup is usable (sandbox_cgroup.h): a fresh cgroup per call, entered by the forked
 *     child before it executes bwrap (the parent moves it in while the child waits on a pipe),
 *     with pids.max from the policy's max_processes and, with a memory controller, the policy's
 *     memory_bytes as one limit for the whole sandbox; everything in it is killed and the cgroup
 *     removed at the end of the call;
 *   - RLIMIT_CPU, RLIMIT_FSIZE and (without a memory cgroup) RLIMIT_AS set in the forked child
 *     before it executes bwrap; RLIMIT_NPROC set inside the sandbox by the wrapper shell (set
 *     before bwrap it would count every process of the calling user, not only the sandbox's: the
 *     kernel checks a new user namespace's processes against the limit its creator had);
 *   - a supervisor that reads stdout+stderr (one pipe) up to the output limit and counts the
 *     rest and, at the deadline or over the process limit, kills bwrap's process group with
 *     SIGKILL; bwrap's init in the new pid namespace dies with its parent (--die-with-parent),
 *     which makes the kernel kill every process in the namespace. Over the process limit means:
 *     with a cgroup, a fork refused at pids.max (pids.events); without one, more processes in the
 *     sandbox's pid namespace than the limit, counted every 20 ms (RLIMIT_NPROC does not bind a
 *     caller running as root, and a fast fork bomb can outrun that count). The run returns only
 *     once no process of the call is left. */
#ifndef CN_AGENT_SANDBOX_H
#define CN_AGENT_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/policy.h"
#include "agent/sandbox_cgroup.h"
#include "base/error.h"

typedef struct {
    const char *bwrap;     /* the bwrap executable */
    const char *workspace; /* host directory bound read-write at /workspace */
    bool workspace_read_only; /* bind it read-only instead (the start-up probe binds /usr) */
    bool network;
    cn_policy_limits limits;
    char *const *read_only_paths;
    size_t n_read_only_paths;
    const cn_cgroup_site *cgroup; /* where the call's cgroup goes; NULL or version NONE: none */
} cn_sandbox_config;

typedef struct {
    char *output;          /* the first limits.output_bytes bytes of stdout+stderr, NUL-terminated */
    size_t output_len;
    uint64_t output_total; /* every byte the command wrote */
    int exit_code;         /* the command's exit status; -1 if it ended by a signal or was killed */
    int term_signal;       /* the signal that ended bwrap (the supervisor's SIGKILL included), or 0 */
    bool timed_out;        /* killed at the deadline */
    bool process_limit;    /* killed for running more than limits.max_processes processes */
    long oom_kills;        /* processes the kernel killed at the sandbox's memory limit (memory cgroup) */
    bool cgroup_left;      /* the call's cgroup could not be emptied or removed in time */
    double elapsed_s;
} cn_sandbox_result;

/* Finds bwrap on PATH; *path gets a malloc'd absolute path. */
cn_status cn_sandbox_find_bwrap(char **path, cn_error *err);

/* Runs `bash -c command` in the sandbox until it ends, the deadline (absolute CLOCK_REALTIME
 * seconds; it is capped at now + limits.timeout_s) passes, or it runs too many processes. Only
 * failures to start are errors (then *r holds nothing to free); whatever the command does is in *r. */
cn_status cn_sandbox_run(const cn_sandbox_config *cfg, const char *command, double deadline, cn_sandbox_result *r,
                         cn_error *err);
void cn_sandbox_result_free(cn_sandbox_result *r);

#endif
