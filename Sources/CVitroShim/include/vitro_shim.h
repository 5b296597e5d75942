/*
 * CVitroShim: the little C that vitro cannot write in Swift.
 *
 * Why this exists. Swift's Glibc module does not define _GNU_SOURCE, so it hides
 * unshare(2), setns(2), the CLONE_NEW* constants and the mount flags; pivot_root(2) has
 * no glibc wrapper at all; prctl(2), ioctl(2) and syscall(2) are variadic, which Swift
 * cannot call; and the wait-status and makedev helpers are macros. Each of those is
 * declared here as a plain function or constant.
 *
 * The one piece of logic here is vitro_spawn: the window between vfork(2) and execve(2)
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
/* renameat2(2) with RENAME_EXCHANGE: the two names swap their files in one step. */
int vitro_rename_exchange(const char *from, const char *to);
int vitro_mknod(const char *path, unsigned int mode, unsigned int major, unsigned int minor);
pid_t vitro_fork(void);
/* clone3(2) with CLONE_INTO_CGROUP and no other flag: fork(2), with the child born in
 * the (v2) cgroup whose directory cgroup_fd is open on. Returns as fork does; -1 with
 * errno (ENOSYS before Linux 5.7, EBADF/EINVAL/EOPNOTSUPP for a fd clone3 refuses). */
pid_t vitro_clone_into_cgroup(int cgroup_fd);
/* Hands the last close of fd to an orphaned grandchild, which closes every other
   descriptor it inherited, then fd, then exits; this process's reference is closed at
   once and the intermediate child reaped. Returns 0, or -1 with errno (fd then closed
   here). */
int vitro_close_in_orphan(int fd);
pid_t vitro_gettid(void);

/* prctl(PR_SET_CHILD_SUBREAPER, 1) and friends. */
int vitro_set_child_subreaper(int on);
int vitro_set_pdeathsig(int sig);
int vitro_set_no_new_privs(void);
/* prctl(PR_CAPBSET_DROP, cap): remove a capability from the bounding set. */
int vitro_capbset_drop(int cap);

/* ---- Privileges (chapter 07) ----------------------------------------------------
 * seccomp(2) has no glibc wrapper; setgroups(2) and prlimit(2) need _GNU_SOURCE;
 * memfd_create(2) too. */

/* seccomp(SECCOMP_SET_MODE_FILTER, 0, prog): install a classic BPF program of `count`
 * 8-byte instructions (struct sock_filter) as the calling thread's syscall filter. */
int vitro_seccomp_set_filter(const void *instructions, unsigned short count);
/* prlimit(2) on the calling process: set RLIMIT_`resource` to soft and hard (both as
 * 64-bit values; UINT64_MAX is RLIM_INFINITY). */
int vitro_setrlimit(int resource, uint64_t soft, uint64_t hard);
/* setgroups(2), setresgid(2), setresuid(2). */
int vitro_setgroups(const unsigned int *groups, int count);
int vitro_setresgid(unsigned int gid);
int vitro_setresuid(unsigned int uid);
/* setpgid(0, 0) and tcsetpgrp(fd, getpgrp()). */
int vitro_setpgid_self(void);
int vitro_tcsetpgrp_self(int fd);
/* memfd_create(2), close-on-exec: an anonymous file in memory. */
int vitro_memfd(const char *name);

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

/* Terminal ioctls (ioctl(2) is variadic). */
int vitro_isatty(int fd);
/* TIOCSCTTY: make the terminal on fd the caller's controlling terminal. */
int vitro_set_controlling_tty(int fd);
/* TIOCGWINSZ and TIOCSWINSZ: a terminal's window size in rows and columns. */
int vitro_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int vitro_set_winsize(int fd, unsigned short rows, unsigned short cols);
/* TIOCSPTLCK (unlockpt(3)) and TIOCGPTN (the number N of /dev/pts/N) on a pty master. */
int vitro_unlock_pty(int fd);
int vitro_pty_number(int fd, int *n);
/* Raw mode (cfmakeraw(3)) for a terminal; the previous settings are saved in `saved`,
 * an opaque buffer of vitro_termios_size() bytes, which vitro_restore_termios puts back. */
int vitro_termios_size(void);
int vitro_make_raw(int fd, void *saved);
int vitro_restore_termios(int fd, const void *saved);

/* One SOCK_SEQPACKET message with a descriptor attached (SCM_RIGHTS), and its receipt:
 * *fd_out is the descriptor received (close-on-exec), or -1 when none came with it. */
int vitro_send_fd(int sock, const void *buf, size_t len, int fd);
ssize_t vitro_recv_fd(int sock, void *buf, size_t len, int *fd_out);

/* The same with up to `max` descriptors: vitro_send_fds attaches fds[0..n-1] to one
 * message; vitro_recv_fds stores those received in fds (close-on-exec), their number in
 * *count, and closes any beyond `max`. */
int vitro_send_fds(int sock, const void *buf, size_t len, const int *fds, int n);
ssize_t vitro_recv_fds(int sock, void *buf, size_t len, int *fds, int max, int *count);

/*
 * Spawn `path` with `argv` and `envp`. fdmap[i] is the parent descriptor that becomes
 * descriptor i in the child (i from 0 to nfds-1); every other descriptor is closed.
 * The child starts with an empty signal mask and default dispositions. Returns the pid,
 * or -1 with *child_errno set to the errno of the step that failed (vfork in the parent,
 * or a dup/exec step in the child, reported over a close-on-exec pipe).
 */
pid_t vitro_spawn(const char *path, char *const argv[], char *const envp[],
                  const int *fdmap, int nfds, int *child_errno);

/* ---- Layers (chapter 02) -------------------------------------------------------
 * Unpacking a layer works relative to directory descriptors (the *at calls), so that
 * nothing a layer contains can steer a write outside the snapshot. Glibc's Swift
 * module hides what follows: sys/xattr.h is not in its module map, syncfs(2)
 * needs _GNU_SOURCE, and major, minor and makedev are macros. */

/* mknodat(2) of a character device, block device or fifo (type is S_IFCHR, S_IFBLK or
 * S_IFIFO, or-ed into mode). */
int vitro_mknodat(int dirfd, const char *name, unsigned int mode, unsigned int major, unsigned int minor);
/* Extended attributes (xattr(7)). The l* calls do not follow a final symlink. */
int vitro_fsetxattr(int fd, const char *name, const void *value, size_t size);
int vitro_lsetxattr(const char *path, const char *name, const void *value, size_t size);
ssize_t vitro_lgetxattr(const char *path, const char *name, void *value, size_t size);
ssize_t vitro_llistxattr(const char *path, char *list, size_t size);
/* syncfs(2): flush the filesystem that holds fd. */
int vitro_syncfs(int fd);
/* major and minor of a dev_t (the macros of sys/sysmacros.h). */
unsigned int vitro_major(unsigned long dev);
unsigned int vitro_minor(unsigned long dev);

/* ---- Volumes (chapter 06) -------------------------------------------------------
 * A mount destination is resolved inside the container's root with openat2(2) and
 * RESOLVE_IN_ROOT, which glibc does not wrap; the mount is then made on the
 * descriptor's /proc/self/fd path. fstatvfs(2) gives the flags of the mount a
 * descriptor is on, which a read-only bind remount must keep. */
int vitro_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
/* The f_flag of fstatvfs(2) (ST_RDONLY, ST_NOSUID, ...); *ok is 0 on failure. */
unsigned long vitro_fstatvfs_flags(int fd, int *ok);

/* ---- cgroup v2 device allowlist (chapter 04) ------------------------------------
 * bpf(2) has no glibc wrapper and its argument is a union that Swift would have to
 * lay out by hand; each command vitro uses is one function here. */

/* bpf(BPF_PROG_LOAD) of a BPF_PROG_TYPE_CGROUP_DEVICE program of `count` 8-byte
 * instructions (struct bpf_insn). With a log buffer, the verifier writes its log into
 * it (log_level 1). Returns the program's descriptor (close-on-exec). */
int vitro_bpf_load_cgroup_device(const void *instructions, unsigned int count, const char *license,
                                 char *log, unsigned int log_size);
/* bpf(BPF_PROG_ATTACH / BPF_PROG_DETACH) of a program to a cgroup v2 directory with
 * attach type BPF_CGROUP_DEVICE; attach uses BPF_F_ALLOW_MULTI, as runc and systemd do. */
int vitro_bpf_attach_cgroup_device(int cgroup_fd, int prog_fd);
int vitro_bpf_detach_cgroup_device(int cgroup_fd, int prog_fd);
/* bpf(BPF_PROG_QUERY): the ids of the BPF_CGROUP_DEVICE programs attached to the cgroup
 * itself; *count is the room in ids on entry and the number attached on return. */
int vitro_bpf_query_cgroup_device(int cgroup_fd, uint32_t *ids, uint32_t *count);
/* bpf(BPF_PROG_GET_FD_BY_ID): a descriptor for an attached program, to detach it. */
int vitro_bpf_prog_fd_by_id(uint32_t id);

/* Storage for the libcurl function table of Sources/CCurl/shim.h. */
extern void *vitro_ccurl_storage[32];

/* Native libraries opened on first use (Sources/CPcap, CCrypto, CSeccomp, CZlib, CZstd:
 * each shim.h declares its function table and the helpers Swift calls). A table is
 * `void *[N]`: slot 0 the dlopen handle, then one slot per name of the NULL-terminated
 * `names`. vitro_library_load opens `soname` once (under a lock; later calls are one
 * atomic load) and returns 1 when every function was found, else 0, and
 * vitro_library_error() says why. vitro_library_require is the same, but on failure
 * prints `vitro: load SONAME: WHY` and exits 125: the helpers call it, so a caller that
 * forgot to load first gets that line rather than a crash. */
int vitro_library_load(void **table, const char *soname, const char *const *names);
const char *vitro_library_error(void);
void vitro_library_require(void **table, const char *soname, const char *const *names);
extern void *vitro_cpcap_storage[24];
extern void *vitro_ccrypto_storage[8];
extern void *vitro_cseccomp_storage[16];
extern void *vitro_czlib_storage[12];
extern void *vitro_czstd_storage[16];

#endif
