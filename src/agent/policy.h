/* A run's policy: what its tools may do beyond the workspace files (the --policy file, stored in
 * the journal's settings table at creation; docs/agent.md, "Policy"). A JSON object:
 *
 *   {"shell": true,                       sandboxed shell tool offered (default true)
 *    "shell_network": false,              the shell may use the network (default false)
 *    "http_get_hosts": ["example.org"],   hosts http_get may fetch; none = no http_get tool
 *    "read_only_paths": ["/opt/tools"],   extra absolute paths bound read-only into the sandbox
 *    "cgroup": "auto",                    a cgroup per shell call: "auto" (where usable), "required"
 *                                         (no shell tool without one), "off"
 *    "limits": {"timeout_s": 30, "cpu_s": 30, "memory_bytes": 1073741824, "output_bytes": 65536,
 *               "file_bytes": 1073741824, "max_processes": 64}}
 *
 * Every key is optional; an unknown key, a wrong type or a value out of range is an error that
 * names the field. */
#ifndef CN_AGENT_POLICY_H
#define CN_AGENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct {
    int64_t timeout_s;     /* wall time of one tool call (shell, http_get; every tool's call deadline) */
    int64_t cpu_s;         /* RLIMIT_CPU of every sandboxed process */
    int64_t memory_bytes;  /* the sandbox's memory cgroup limit; without one, RLIMIT_AS of every process */
    int64_t output_bytes;  /* shell output / http_get body kept for the model; the rest is counted */
    int64_t file_bytes;    /* RLIMIT_FSIZE: the largest file the shell may write */
    int64_t max_processes; /* pids.max of the call's cgroup; RLIMIT_NPROC inside the sandbox */
} cn_policy_limits;

typedef enum { CN_POLICY_CGROUP_AUTO, CN_POLICY_CGROUP_REQUIRED, CN_POLICY_CGROUP_OFF } cn_policy_cgroup;

typedef struct {
    bool shell;
    bool shell_network;
    char **http_get_hosts;
    size_t n_http_get_hosts;
    char **read_only_paths;
    size_t n_read_only_paths;
    cn_policy_limits limits;
    cn_policy_cgroup cgroup;
} cn_policy;

/* Parses policy text (NULL or "" = the defaults). On failure *p is left empty (nothing to free)
 * and err names the bad field ("policy: limits.timeout_s must be ..."). */
cn_status cn_policy_parse(const char *json, cn_policy *p, cn_error *err);
void cn_policy_free(cn_policy *p);

#endif
