/*
 * CVitroShim: the little C that vitro cannot write in Swift.
 *
 * Why this exists. Swift's Glibc module does not define _GNU_SOURCE, so it hides
 * unshare(2), setns(2), the CLONE_NEW* constants and the mount flags; pivot_root(2) has
 * no glibc wrapper at all; prctl(2), ioctl(2) and syscall(2) are variadic, which Swift
 * cannot call; and the wait-status and makedev helpers are macros. Each of those is
 * declared here as a plain function or constant.
 *
 * The one piece of logic here is vitro_spawn: the window between fork(2) and execve(2)
 * in a multi-threaded parent may only use async-signal-safe calls, so it is written in
 * C. A failure inside it travels back to the parent as an errno over a close-on-exec
 * pipe, and the child ends with _exit(127).
 *
 * Nothing outside Sources/VitroSys calls these functions: VitroSys wraps each one,
 * retries EINTR, names the failing operation and object, and records a trace event.
 */
#ifndef VITRO_SHIM_H
#define VITRO_SHIM_H

#include <stdint.h>
#include <sys/types.h>

/* Namespace kinds (clone(2), unshare(2), setns(2)). */
extern const int VITRO_CLONE_NEWNS;
extern const int VITRO_CLONE_NEWUTS;
extern const int VITRO_CLONE_NEWIPC;
extern const int VITRO_CLONE_NEWPID;
extern const int VITRO_CLONE_NEWNET;
extern const int VITRO_CLONE_NEWCGROUP;
extern const int VITRO_CLONE_NEWUSER;
extern const int VITRO_CLONE_NEWTIME;

int vitro_unshare(int flags);
int vitro_setns(int fd, int nstype);
int vitro_pivot_root(const char *new_root, const char *put_old);
int vitro_mount(const char *source, const char *target, const char *fstype,
                unsigned long flags, const char *data);
int vitro_umount2(const char *target, int flags);
int vitro_sethostname(const char *name, size_t len);
int vitro_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor);
pid_t vitro_fork(void);
pid_t vitro_gettid(void);

/* prctl(PR_SET_CHILD_SUBREAPER, 1) and friends. */
int vitro_set_child_subreaper(int on);
int vitro_set_pdeathsig(int sig);
int vitro_set_no_new_privs(void);

/* wait(2) status macros. */
int vitro_wifexited(int status);
int vitro_wexitstatus(int status);
int vitro_wifsignaled(int status);
int vitro_wtermsig(int status);

/* A signalfd(2) for the given signals, which the caller has blocked. */
int vitro_signalfd(const int *signals, int count);
/* Block (how=0) or unblock (how=1) the given signals in the calling thread. */
int vitro_sigmask(int how, const int *signals, int count);
/* One read from a signalfd: the signal number, or -1 with errno. */
int vitro_signalfd_read(int fd, int *pid_out);

/* errno name (EPERM) and message; never NULL. */
const char *vitro_errno_name(int err);

/* Close every descriptor >= lowfd (close_range(2)). */
int vitro_close_from(int lowfd);

/* A close-on-exec pipe, and a close-on-exec SOCK_SEQPACKET socket pair. */
int vitro_pipe_cloexec(int fds[2]);
int vitro_socketpair_cloexec(int fds[2]);

/* Terminal ioctls. */
int vitro_isatty(int fd);

/*
 * Spawn `path` with `argv` and `envp`. fdmap[i] is the parent descriptor that becomes
 * descriptor i in the child (i from 0 to nfds-1); every other descriptor is closed.
 * The child starts with an empty signal mask and default dispositions. Returns the pid,
 * or -1 with *child_errno set to the errno of the step that failed (fork in the parent,
 * or a dup/exec step in the child, reported over a close-on-exec pipe).
 */
pid_t vitro_spawn(const char *path, char *const argv[], char *const envp[],
                  const int *fdmap, int nfds, int *child_errno);

#endif
