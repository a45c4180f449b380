/* A cgroup per shell call (docs/agent.md, "The shell sandbox", containment): the sandboxed
 * command and everything it starts live in a fresh cgroup with
 *   - pids.max = the policy's max_processes + 2 (bwrap's monitor and its init in the new pid
 *     namespace): a hard bound the kernel enforces at fork, for root too (RLIMIT_NPROC does not
 *     bind root, and a watchdog that counts processes can be outrun by a fork bomb);
 *   - the policy's memory_bytes as one limit for the whole sandbox (memory.max on v2,
 *     memory.limit_in_bytes on v1) where a memory controller is usable, instead of RLIMIT_AS per
 *     process;
 * and at the end of the call everything in it is killed (cgroup.kill on v2, SIGKILL to every pid of
 * cgroup.procs until it is empty on v1) and the directory removed.
 *
 * Where the cgroups go (cn_cgroup_site_find), from /proc/self/cgroup and /proc/self/mountinfo:
 *   - cgroup v2, when our own cgroup offers the pids controller: our cgroup is the parent. Its
 *     children get pids (and memory) only if they are in its cgroup.subtree_control, and a
 *     non-root cgroup with controllers enabled there may hold no process itself ("no internal
 *     processes"), so the runner first moves itself into a leaf `clawnet-runner-PID` beside the
 *     calls. That works in a cgroup delegated to the runner alone (systemd-run -p Delegate=yes, a
 *     container's own cgroup); with other processes in it, enabling fails and v1 or nothing is used.
 *   - cgroup v1, when a `pids` hierarchy is mounted: our cgroup in it is the parent (v1 has no
 *     internal-process rule); memory likewise from the `memory` hierarchy, if mounted.
 *   - otherwise none: the sandbox falls back to RLIMIT_NPROC, RLIMIT_AS and its process-count
 *     watchdog, and says so.
 * The site is checked by creating, limiting and removing a probe cgroup. Call cgroups are named
 * `clawnet-sandbox-RUNNERPID-CHILDPID`; ones left by a runner that no longer exists (SIGKILLed
 * mid-call; the sandbox died with it) are removed when a site is found. */
#ifndef CN_AGENT_SANDBOX_CGROUP_H
#define CN_AGENT_SANDBOX_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

#define CN_CGROUP_PATH_MAX 1024

typedef enum { CN_CGROUP_NONE = 0, CN_CGROUP_V1 = 1, CN_CGROUP_V2 = 2 } cn_cgroup_version;

/* Where a runner's call cgroups are created. */
typedef struct {
    cn_cgroup_version version;
    char pids_parent[CN_CGROUP_PATH_MAX];   /* directory the call cgroups are made in */
    char memory_parent[CN_CGROUP_PATH_MAX]; /* v1: the memory hierarchy's; v2: = pids_parent; "" = none */
    char why[1100];                         /* what is missing when version is NONE or memory is off */
    char containment[160];                  /* "cgroup v1 (pids, memory)": what bounds the sandbox */
} cn_cgroup_site;

/* The parents a process's cgroup files name, before anything is checked on disk. */
typedef struct {
    char v2_dir[CN_CGROUP_PATH_MAX];        /* our cgroup v2 directory, "" if cgroup2 is not mounted */
    bool v2_is_root;                        /* our v2 cgroup is the hierarchy's root (no internal-process rule) */
    char v1_pids_dir[CN_CGROUP_PATH_MAX];   /* our cgroup in a mounted v1 pids hierarchy, or "" */
    char v1_memory_dir[CN_CGROUP_PATH_MAX]; /* our cgroup in a mounted v1 memory hierarchy, or "" */
} cn_cgroup_paths;

/* Pure: the directories from the text of /proc/self/cgroup and /proc/self/mountinfo. A runner
 * sitting in its own `clawnet-runner-PID` leaf (moved there by an earlier site_find of this
 * process) is reported at that leaf's parent. */
void cn_cgroup_paths_parse(const char *proc_cgroup, const char *mountinfo, pid_t self, cn_cgroup_paths *out);

/* Finds and checks this process's site (never fails: version NONE with why set when no cgroup is
 * usable). May move this process into its v2 leaf (see above). */
void cn_cgroup_site_find(cn_cgroup_site *site);

/* One call's cgroup(s): v1 may need two directories (pids, memory). */
typedef struct {
    const cn_cgroup_site *site;
    char pids_dir[CN_CGROUP_PATH_MAX];
    char memory_dir[CN_CGROUP_PATH_MAX]; /* v1 only; "" when none */
    bool created_pids, created_memory;
} cn_cgroup_call;

/* Creates the call's cgroup(s) named after child (a stopped, not yet executing child of ours),
 * sets the limits (memory_bytes only if the site has memory) and moves child in. On failure
 * everything created is removed again. */
cn_status cn_cgroup_call_start(const cn_cgroup_site *site, pid_t child, int64_t max_pids, int64_t memory_bytes,
                               cn_cgroup_call *c, cn_error *err);

/* How often a fork was refused at pids.max (the "max" line of pids.events); -1 if unreadable. */
long cn_cgroup_call_pids_refused(const cn_cgroup_call *c);
/* Processes killed by the OOM killer at the call's memory limit ("oom_kill" of memory.events on v2,
 * memory.oom_control on v1); 0 without a memory cgroup. */
long cn_cgroup_call_oom_kills(const cn_cgroup_call *c);
/* The most processes the call had at once (pids.peak, kernel 6.1+); -1 if not available. */
long cn_cgroup_call_pids_peak(const cn_cgroup_call *c);

/* Kills everything in the call's cgroup(s), waits up to grace_s for them to empty and removes
 * them. Returns false if a cgroup could not be emptied or removed (left for the sweep). */
bool cn_cgroup_call_end(cn_cgroup_call *c, double grace_s);

/* Fills site as NONE (containment and why say so): the policy turned cgroups off. */
void cn_cgroup_site_none(cn_cgroup_site *site, const char *why);

#endif
