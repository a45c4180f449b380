/* The seccomp filter of the shell sandbox (sandbox.h), compiled with libseccomp to classic BPF in a
 * memfd that bubblewrap loads (`--seccomp FD`) right before it executes the command, after its own
 * namespace and mount set-up. Default allow; denied (EPERM unless noted):
 *   - socket() of any family but AF_UNIX when the policy denies the network (the sandbox also has
 *     its own empty network namespace then: two independent walls);
 *   - io_uring (its operations, sockets included, would bypass this filter);
 *   - ptrace, process_vm_readv/writev; mount and the new mount API, pivot_root, chroot; unshare,
 *     setns and clone/clone3 with namespace flags (clone3 gets ENOSYS so libc falls back to
 *     clone, whose flags the filter can see); bpf, perf_event_open, userfaultfd; kexec, modules,
 *     reboot, swap, acct, quotactl, syslog; keyctl/add_key/request_key; open_by_handle_at;
 *     ioctl TIOCSTI/TIOCLINUX (typing into a terminal).
 * System calls of another architecture's ABI (i386 via int 0x80, x32) kill the process:
 * libseccomp's default bad-architecture action. */
#ifndef CN_AGENT_SANDBOX_FILTER_H
#define CN_AGENT_SANDBOX_FILTER_H

#include <stdbool.h>

#include "base/error.h"

/* A memfd (close-on-exec, offset 0) holding the filter's BPF program. */
cn_status cn_sandbox_filter_fd(bool network, int *fd, cn_error *err);

#endif
