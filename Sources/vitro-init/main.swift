// vitro-init: the single-threaded helper that runs inside the new namespaces.
//
// vitro spawns it with this descriptor contract (VitroExec/InitSpec.swift):
//
//   fd 0, 1, 2   the container's stdin, stdout, stderr; passed on to the command
//   fd 3         spec: an InitSpec (NUL-separated key=value records), read to EOF
//   fd 4         trace: JSON Lines events, written in one write(2) before each sync
//                message, fork and execve; merged by vitro
//   fd 5         sync: SOCK_SEQPACKET; messages `pid N`, `pty` (with -t: the pty
//                master attached as SCM_RIGHTS), `ready N`, `cgroups PATHS` (the
//                cgroup files to join, attached), `joined`, `exec`,
//                `error CODE MESSAGE` (VitroExec.SyncMessage)
//   fd 6         only when the spec names a cgroup (v2): its directory, for
//                clone3(CLONE_INTO_CGROUP)
//
// fds 3–6 are made close-on-exec first thing, so the container's command inherits
// none of them; vitro learns that execve succeeded when they reach end-of-file.
//
// It imports Glibc and vitro's own modules only: no Foundation, no Dispatch, no async,
// so the process stays single-threaded and starts in about a millisecond.

import VitroExec

ContainerInit.main()
