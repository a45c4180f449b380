/* The shell sandbox's seccomp filter (sandbox_filter.h). */
#include "agent/sandbox_filter.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Names, not __NR_ constants: a call this architecture or this libseccomp does not know is
 * skipped (it cannot be made here either). */
static const char *const denied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount", "umount2", "pivot_root", "chroot",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr", "unshare", "setns",
    "bpf", "perf_event_open", "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "keyctl",
    "add_key", "request_key", "open_by_handle_at", "io_uring_setup", "io_uring_enter", "io_uring_register",
};

static const unsigned long namespace_flags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                                CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

/* The comparisons name their unused second datum (0): libseccomp's SCMP_A* macros leave it out
 * otherwise, which clang's -Wmissing-field-initializers rejects under -Werror. */
static int add_rules(scmp_filter_ctx ctx, bool network) {
    int rc = 0;
    for (size_t i = 0; i < sizeof denied / sizeof denied[0] && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr != __NR_SCMP_ERROR) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
    for (size_t i = 0; i < sizeof namespace_flags / sizeof namespace_flags[0] && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, namespace_flags[i], namespace_flags[i]));
    int clone3 = seccomp_syscall_resolve_name("clone3");
    if (rc == 0 && clone3 != __NR_SCMP_ERROR) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TIOCSTI, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TIOCLINUX, 0));
    if (rc == 0 && !network)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0));
    return rc;
}

cn_status cn_sandbox_filter_fd(bool network, int *fd, cn_error *err) {
    *fd = -1;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) return cn_fail(err, CN_ERR_NOMEM, "seccomp: cannot create a filter");
    int rc = add_rules(ctx, network);
    if (rc != 0) {
        seccomp_release(ctx);
        return cn_fail(err, CN_ERR_UNSUPPORTED, "seccomp: cannot add a rule: %s", strerror(-rc));
    }
    int mfd = memfd_create("clawnet-seccomp", MFD_CLOEXEC);
    if (mfd < 0) {
        seccomp_release(ctx);
        return cn_fail(err, CN_ERR_IO, "seccomp: memfd_create: %s", strerror(errno));
    }
    rc = seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    if (rc != 0 || lseek(mfd, 0, SEEK_SET) != 0) {
        close(mfd);
        return cn_fail(err, CN_ERR_IO, "seccomp: cannot write the filter: %s", strerror(rc ? -rc : errno));
    }
    *fd = mfd;
    return CN_OK;
}
