// Chapter 08: `run -t`, vitro's side of the container's pseudo-terminal.
//
// pid 1 opens the pty in the container's devpts and sends the master over the sync
// socket (`SyncMessage.pty`, see ContainerInit.openTerminal). vitro then, before it
// lets pid 1 exec:
//
//   1. makes the master non-blocking and adds it to the poll loop's `pumps`: what the
//      container writes goes to vitro's stdout (a monitor's log for `run -d -t`);
//   2. with -i, copies its stdin into the master (the loop watches stdin itself, so
//      vitro's stdin is never made non-blocking: that flag is shared with the shell
//      that started vitro). End of file on a stdin that is not a terminal becomes one
//      Ctrl-D (the EOF character) on the pty;
//   3. when its stdin is a terminal (and -i), puts it in raw mode: no echo, no line
//      editing, no signals, so Ctrl-C and Ctrl-D reach the container as bytes, as with
//      `docker run -it`. The saved settings are put back when `launch` returns or
//      throws;
//   4. copies the window size of its terminal onto the master now and on every
//      SIGWINCH (the one signal vitro handles itself instead of forwarding it); the
//      kernel then sends SIGWINCH to the container's foreground job.
//
// A detached container's monitor has no terminal (its stdio is /dev/null): its attach
// clients type into the master and send their window sizes instead (AttachServer).

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// The pty of a running `-t` container, as vitro holds it.
final class TerminalSession {
    let master: Int32
    /// vitro's stdin while it is copied into the pty (-i); nil without -i or after its end.
    var input: Int32?
    /// The terminal of vitro's whose window size the pty follows, if any.
    let sizeSource: Int32?
    /// vitro's terminal and its settings to put back, once it has been made raw.
    var saved: (fd: Int32, settings: TerminalSettings)?

    init(master: Int32, input: Int32?, sizeSource: Int32?) {
        self.master = master
        self.input = input
        self.sizeSource = sizeSource
    }
}

extension ContainerRun {
    /// The signals vitro handles itself during a run with a terminal.
    var terminalSignals: [Int32] { options.tty ? [SIGWINCH] : [] }

    /// Takes the master pid 1 sent and wires it up (steps 1–4 above).
    func attachTerminal(master: Int32) throws {
        try Sys.setNonBlocking(master)
        let input: Int32? = options.interactive ? options.stdio[0] : nil
        let sizeSource = [input, options.stdio[1]].compactMap { $0 }.first { Sys.isTerminal($0) }
        let session = TerminalSession(master: master, input: input, sizeSource: sizeSource)
        terminal = session
        let output = terminalOutput ?? { [fd = options.stdio[1]] bytes in Sys.write(fd, bytes) }
        pumps[master] = output
        resizeTerminal(why: "the container's terminal starts with the size of vitro's")
        onTerminal?(master)
        if let input, Sys.isTerminal(input) {
            session.saved = (input, try Sys.makeRaw(input, why: "raw mode while the container has the terminal: keys (Ctrl-C, Ctrl-D) go to it as bytes"))
        }
    }

    /// Copies vitro's window size onto the pty.
    func resizeTerminal(why: String) {
        guard let session = terminal, let source = session.sizeSource, let size = Sys.windowSize(source) else { return }
        try? Sys.setWindowSize(session.master, size, why: why)
    }

    /// One read of vitro's stdin (poll said it is ready), written into the pty.
    func copyInput() {
        guard let session = terminal, let input = session.input else { return }
        let chunk: [UInt8]
        do {
            guard let c = try Sys.read(input, max: 4096) else { return }
            chunk = c
        } catch {
            session.input = nil
            return
        }
        if chunk.isEmpty {
            // A pipe or file has ended: tell the container as a terminal would, with the
            // EOF character at the start of a line.
            Sys.writeWaiting(session.master, [4])
            session.input = nil
            return
        }
        if !Sys.writeWaiting(session.master, chunk) { session.input = nil }
    }

    /// Puts vitro's terminal back as it was and closes the master. Runs on every way
    /// out of `launch`.
    func detachTerminal() {
        guard let session = terminal else { return }
        if let saved = session.saved {
            try? Sys.restoreTerminal(saved.fd, saved.settings, why: "the container is done with the terminal: vitro's settings come back")
        }
        pumps[session.master] = nil
        Sys.close(session.master)
        terminal = nil
    }
}
