// Chapter 07: `--init`. A shell or a server that was never meant to be pid 1 does not
// reap the orphans the kernel hands to pid 1, so they stay zombies; and pid 1 gets no
// default signal actions, so SIGTERM does nothing to a program without a handler.
// docker-init (tini) fixes both by being pid 1 itself; so does vitro-init here:
//
//   - it blocks the signals it forwards and SIGCHLD, and reads them from a signalfd
//   - forks: the child gets a process group of its own (the terminal's foreground
//     one with -t, so Ctrl-C reaches it and not pid 1), unblocks the signals and
//     execs the command, with every privilege already dropped
//   - pid 1 closes its copies of the spec, trace and sync descriptors (vitro sees
//     the command start when the child's close at execve), then loops: a forwarded
//     signal goes to the child; SIGCHLD reaps every child that ended; when the
//     command has ended, pid 1 exits with its status (128+N for a signal N).
//
// pid 1 is then no longer vitro-init's Swift code doing setup, but a small loop under
// the same filter, user and capabilities as the command.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension ContainerInit {
    /// What pid 1 forwards to the command (tini's list, less the job-control ones).
    static let forwardedSignals: [Int32] = [SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH, SIGALRM, SIGCONT]

    /// Forks; returns in the child, which goes on to execve. pid 1 never returns.
    static func startReaper(_ spec: InitSpec) throws {
        let blocked = forwardedSignals + [SIGCHLD, SIGTTOU]
        let signals = try Sys.signalDescriptor(blocked)
        let child = try Sys.fork(why: "--init: the command becomes pid 1's child; pid 1 stays to reap orphans and forward signals")
        if child == 0 {
            Sys.close(signals)
            try Sys.setOwnProcessGroup(why: "the command leads its own process group, as tini puts it")
            if Sys.isTerminal(0) {
                try Sys.takeTerminalForeground(0, why: "the terminal's foreground group: Ctrl-C goes to the command, not to pid 1")
            }
            Sys.unblockSignals(blocked)
            return
        }
        Tracer.shared.flush()
        Tracer.shared.removeAllSinks()
        Sys.close(InitFD.trace)
        Sys.close(InitFD.sync)
        reap(command: child, signals: signals)
    }

    static func reap(command: pid_t, signals: Int32) -> Never {
        while true {
            _ = try? Sys.poll([signals])
            while let (sig, _) = Sys.readSignal(signals) {
                if sig != SIGCHLD {
                    try? Sys.kill(command, sig)
                    continue
                }
                while let (pid, status) = try? Sys.waitpid(-1, noHang: true) {
                    if pid == command { Sys.exitNow(status.code) }
                }
            }
        }
    }
}
