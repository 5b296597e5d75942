/*
 * floor: the least a container start needs, in C, as the floor row of the start-up
 * benchmark (Benchmarks/run). It does what vitro does on `vitro run --rootfs DIR CMD`,
 * minus everything that is not a kernel call:
 *
 *   parent  unshare(NEWNS|NEWUTS|NEWIPC|NEWPID|NEWNET), mkdir a v1 memory cgroup of its
 *           own, fork
 *   child   (pid 1 of the new pid namespace) joins the cgroup as vitro's pid 1 does
 *           (writes 0, itself, into v1's tasks; into cgroup.procs on v2), unshares
 *           its cgroup namespace (rooted at that cgroup, as vitro does), sets the host
 *           name, mount --make-rprivate /, bind-mounts the rootfs onto itself, mounts
 *           /proc, pivot_root(".", "."), umount2(".", MNT_DETACH), chdir("/"), execs CMD
 *   parent  waits, removes the cgroup, exits with CMD's status
 *
 * The cgroup is reached through a directory fd opened before anything else: pivot_root
 * moves the root of every process of the mount namespace, the waiting parent's too, so
 * after it a path under /sys would no longer resolve in the parent.
 *
 * Usage: floor ROOTFS [CMD [ARG...]]     (CMD defaults to /bin/true)
 *        FLOOR_CGROUP_ROOT overrides /sys/fs/cgroup/memory (where the cgroup is made).
 *        FLOOR_TIMES=FILE appends one line per call, "NAME START_NS DUR_NS" on
 *        CLOCK_MONOTONIC, so the benchmark can set each primitive beside vitro's trace
 *        (the timed runs of the benchmark leave it unset).
 * Build: gcc -O2 -o floor floor.c
 *
 * Like vitro's own start path, it never changes the host's mount propagation: the
 * rprivate remount happens inside the new mount namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

static int times_fd = -1;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runs one call and, with FLOOR_TIMES set, records how long it took. */
#define TIMED(name, call) ({                                                      \
    long long t0_ = times_fd >= 0 ? now_ns() : 0;                                 \
    long r_ = (long)(call);                                                       \
    if (times_fd >= 0) dprintf(times_fd, "%s %lld %lld\n", name, t0_, now_ns() - t0_); \
    r_; })

static void die(const char *what, const char *arg) {
    fprintf(stderr, "floor: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
    _exit(125);
}

static void write_file(int dirfd, const char *path, const char *value) {
    int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die("open", path);
    ssize_t n = TIMED("write_cgroup_join", write(fd, value, strlen(value)));
    if (n < 0) die("write", path);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: floor ROOTFS [CMD [ARG...]]\n");
        return 2;
    }
    const char *rootfs = argv[1];
    char *default_cmd[] = {"/bin/true", NULL};
    char **cmd = argc > 2 ? argv + 2 : default_cmd;

    const char *times = getenv("FLOOR_TIMES");
    if (times && *times) {
        times_fd = open(times, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (times_fd < 0) die("open", times);
    }
    const char *cg_root = getenv("FLOOR_CGROUP_ROOT");
    if (!cg_root || !*cg_root) cg_root = "/sys/fs/cgroup/memory";
    int cg_dir = open(cg_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cg_dir < 0) die("open", cg_root);
    char cgroup[64], procs[96];
    snprintf(cgroup, sizeof cgroup, "vitro-bench-floor-%d", (int)getpid());
    // v1 (a tasks file at the root): 0 into tasks moves this one thread without the
    // host-wide lock a move of a whole process takes (see VitroCgroups/Cgroup.swift).
    int v1 = faccessat(cg_dir, "tasks", F_OK, 0) == 0;
    snprintf(procs, sizeof procs, "%s/%s", cgroup, v1 ? "tasks" : "cgroup.procs");

    if (TIMED("unshare", unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET)) < 0)
        die("unshare", NULL);
    if (TIMED("mkdir_cgroup", mkdirat(cg_dir, cgroup, 0755)) < 0) die("mkdir", cgroup);

    long long fork_t0 = times_fd >= 0 ? now_ns() : 0;
    pid_t child = fork();
    if (child > 0 && times_fd >= 0) dprintf(times_fd, "fork %lld %lld\n", fork_t0, now_ns() - fork_t0);
    if (child < 0) {
        unlinkat(cg_dir, cgroup, AT_REMOVEDIR);
        die("fork", NULL);
    }
    if (child == 0) {
        write_file(cg_dir, procs, "0");
        if (TIMED("unshare_cgroupns", unshare(CLONE_NEWCGROUP)) < 0) die("unshare", "CLONE_NEWCGROUP");
        if (TIMED("sethostname", sethostname("floor", 5)) < 0) die("sethostname", NULL);
        if (TIMED("mount_rprivate", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) < 0) die("mount --make-rprivate", "/");
        if (TIMED("mount_bind", mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL)) < 0) die("mount --rbind", rootfs);
        if (chdir(rootfs) < 0) die("chdir", rootfs);
        if (TIMED("mount_proc", mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) < 0) die("mount", "proc");
        if (TIMED("pivot_root", syscall(SYS_pivot_root, ".", ".")) < 0) die("pivot_root", rootfs);
        if (TIMED("umount2", umount2(".", MNT_DETACH)) < 0) die("umount2", ".");
        if (chdir("/") < 0) die("chdir", "/");
        if (times_fd >= 0) dprintf(times_fd, "execve %lld 0\n", now_ns());
        execv(cmd[0], cmd);
        die("execv", cmd[0]);
    }

    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            unlinkat(cg_dir, cgroup, AT_REMOVEDIR);
            die("waitpid", NULL);
        }
    }
    if (times_fd >= 0) dprintf(times_fd, "reaped %lld 0\n", now_ns());
    if (TIMED("rmdir_cgroup", unlinkat(cg_dir, cgroup, AT_REMOVEDIR)) < 0) die("rmdir", cgroup);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 125;
}
