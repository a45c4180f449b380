/* The shell sandbox's cgroup per call (agent/sandbox_cgroup.h):
 *   - where the cgroups go, from hand-written /proc/self/cgroup and /proc/self/mountinfo texts: this
 *     machine's cgroup v1 layout, a v2 delegation, the runner's own v2 leaf standing for its parent,
 *     a cgroup-namespace mount whose root is not "/", a path outside a mount's root, an escaped
 *     mount point;
 *   - where this process can use a cgroup: a child that forks until the kernel refuses (at most 64
 *     tries, so nothing here could run away even without a cgroup), placed in a call cgroup with
 *     pids.max 8 before it starts: at most 7 forks succeed, pids.events counts the refusal, and
 *     ending the call kills them all (each pid gone) and removes the directory. Without a usable
 *     cgroup that part says why and is skipped. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/sandbox_cgroup.h"
#include "harness.h"

static const char this_machine_cgroup[] = "9:name=systemd:/\n8:pids:/\n7:blkio:/\n"
                                          "4:memory:/process_api/ae83\n1:cpu:/\n0::/\n";
static const char this_machine_mounts[] =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void test_parse(void) {
    cn_cgroup_paths p;
    cn_cgroup_paths_parse(this_machine_cgroup, this_machine_mounts, 77, &p);
    CHECKF(!strcmp(p.v1_pids_dir, "/sys/fs/cgroup/pids"), "%s", p.v1_pids_dir);
    CHECKF(!strcmp(p.v1_memory_dir, "/sys/fs/cgroup/memory/process_api/ae83"), "%s", p.v1_memory_dir);
    CHECKF(!strcmp(p.v2_dir, "/sys/fs/cgroup/unified") && p.v2_is_root, "%s", p.v2_dir);

    /* A systemd user session with a delegated scope (pure v2; optional mountinfo fields). */
    const char *v2_mounts = "25 30 0:23 / /sys/fs/cgroup rw,nosuid shared:9 - cgroup2 cgroup2 rw,nsdelegate\n";
    cn_cgroup_paths_parse("0::/user.slice/user-1000.slice/run-r1.scope\n", v2_mounts, 77, &p);
    CHECKF(!strcmp(p.v2_dir, "/sys/fs/cgroup/user.slice/user-1000.slice/run-r1.scope") && !p.v2_is_root, "%s",
           p.v2_dir);
    CHECK(!p.v1_pids_dir[0] && !p.v1_memory_dir[0]);

    /* The runner moved into its leaf: the leaf's parent is the site; another pid's leaf is not ours. */
    cn_cgroup_paths_parse("0::/svc/clawnet-runner-77\n", v2_mounts, 77, &p);
    CHECKF(!strcmp(p.v2_dir, "/sys/fs/cgroup/svc"), "%s", p.v2_dir);
    cn_cgroup_paths_parse("0::/svc/clawnet-runner-78\n", v2_mounts, 77, &p);
    CHECKF(!strcmp(p.v2_dir, "/sys/fs/cgroup/svc/clawnet-runner-78"), "%s", p.v2_dir);
    cn_cgroup_paths_parse("0::/clawnet-runner-77\n", v2_mounts, 77, &p);
    CHECKF(!strcmp(p.v2_dir, "/sys/fs/cgroup") && p.v2_is_root, "%s", p.v2_dir);

    /* A mount showing only part of the hierarchy (bind mount / cgroup namespace seen from outside). */
    const char *part = "50 30 0:23 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    cn_cgroup_paths_parse("0::/docker/abc/inner\n", part, 77, &p);
    CHECKF(!strcmp(p.v2_dir, "/sys/fs/cgroup/inner") && !p.v2_is_root, "%s", p.v2_dir);
    cn_cgroup_paths_parse("0::/docker/abcd\n", part, 77, &p);
    CHECKF(!p.v2_dir[0], "a sibling with a common prefix is not under the mount: %s", p.v2_dir);
    cn_cgroup_paths_parse("0::/docker/abc\n", part, 77, &p);
    CHECKF(!strcmp(p.v2_dir, "/sys/fs/cgroup") && !p.v2_is_root, "the mount's root, not the hierarchy's: %s",
           p.v2_dir);

    /* Controllers named together in one v1 hierarchy; an escaped mount point is skipped. */
    cn_cgroup_paths_parse("3:memory,pids:/a\n",
                          "60 1 0:40 / /cg\\040x rw - cgroup cgroup rw,pids,memory\n"
                          "61 1 0:40 / /cg2 rw - cgroup cgroup rw,memory,pids\n",
                          77, &p);
    CHECKF(!strcmp(p.v1_pids_dir, "/cg2/a") && !strcmp(p.v1_memory_dir, "/cg2/a"), "%s %s", p.v1_pids_dir,
           p.v1_memory_dir);
    /* "pids" must be a whole word of the list, not a part of another name. */
    cn_cgroup_paths_parse("3:name=notpids:/a\n", "62 1 0:41 / /x rw - cgroup cgroup rw,name=notpids\n", 77, &p);
    CHECK(!p.v1_pids_dir[0]);
    cn_cgroup_paths_parse("", "", 77, &p);
    CHECK(!p.v2_dir[0] && !p.v1_pids_dir[0] && !p.v1_memory_dir[0]);
}

/* Forks until refused (at most 64 tries); the forked children wait to be killed. Reports each pid
 * on fd, then "done N". */
__attribute__((noreturn)) static void fork_until_refused(int go_fd, int report_fd) {
    char go = 0;
    if (read(go_fd, &go, 1) != 1 || go != 'g') _exit(2);
    int made = 0;
    for (int i = 0; i < 64; i++) {
        pid_t p = fork();
        if (p < 0) break;
        if (p == 0) {
            for (;;) pause();
        }
        made++;
        dprintf(report_fd, "%ld\n", (long)p);
    }
    dprintf(report_fd, "done %d\n", made);
    for (;;) pause();
}

static void test_live(void) {
    cn_cgroup_site site;
    cn_cgroup_site_find(&site);
    if (site.version == CN_CGROUP_NONE) {
        printf("SKIP live cgroup checks: %s\n", site.why);
        return;
    }
    printf("site: %s in %s\n", site.containment, site.pids_parent);
    int go[2], rep[2];
    CHECK(pipe(go) == 0 && pipe(rep) == 0);
    pid_t child = fork();
    if (child == 0) {
        close(go[1]);
        close(rep[0]);
        fork_until_refused(go[0], rep[1]);
    }
    close(go[0]);
    close(rep[1]);
    cn_cgroup_call c;
    cn_error err = {0};
    cn_status s = cn_cgroup_call_start(&site, child, 8, 256ll << 20, &c, &err);
    CHECKF(s == CN_OK, "%s", err.msg);
    if (s != CN_OK) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        return;
    }
    struct stat st;
    CHECK(stat(c.pids_dir, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(cn_cgroup_call_pids_refused(&c) == 0);
    CHECK(write(go[1], "g", 1) == 1);
    char buf[4096];
    size_t len = 0;
    while (len + 1 < sizeof buf && !strstr(buf, "done")) {
        ssize_t n = read(rep[0], buf + len, sizeof buf - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = 0;
    }
    long pids[64];
    int n_pids = 0, made = -1;
    for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (!strncmp(line, "done ", 5)) made = atoi(line + 5);
        else if (n_pids < 64) pids[n_pids++] = strtol(line, NULL, 10);
    }
    /* pids.max 8: the child and 7 of its forks. */
    CHECKF(made == 7 && n_pids == 7, "forks that succeeded under pids.max 8: %d", made);
    CHECKF(cn_cgroup_call_pids_refused(&c) >= 1, "pids.events max: %ld", cn_cgroup_call_pids_refused(&c));
    long peak = cn_cgroup_call_pids_peak(&c);
    CHECKF(peak == -1 || peak == 8, "pids.peak %ld", peak);
    CHECK(cn_cgroup_call_oom_kills(&c) == 0);
    char dir[CN_CGROUP_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", c.pids_dir);
    CHECK(cn_cgroup_call_end(&c, 5.0));
    CHECKF(stat(dir, &st) != 0 && errno == ENOENT, "%s removed", dir);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* The grandchildren were reparented away from us; each must be gone or a zombie. */
    for (int i = 0; i < n_pids; i++) {
        char path[64], stat_line[256] = "";
        snprintf(path, sizeof path, "/proc/%ld/stat", pids[i]);
        FILE *f = fopen(path, "r");
        if (f) {
            if (!fgets(stat_line, sizeof stat_line, f)) stat_line[0] = 0;
            fclose(f);
        }
        const char *paren = strrchr(stat_line, ')');
        CHECKF(!f || (paren && (paren[2] == 'Z' || paren[2] == 'X')), "fork %ld still running: %s", pids[i], stat_line);
    }
    close(go[1]);
    close(rep[0]);
}

int main(void) {
    test_parse();
    test_live();
    return cn_test_finish("test_agent_sandbox_cgroup");
}
