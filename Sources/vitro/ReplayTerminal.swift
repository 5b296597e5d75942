// The terminal side of `vitro trace replay`: raw mode through VitroSys's terminal
// wrappers (no curses), the alternate screen, keys from stdin, frames to stdout.
//
// Order matters on the way in and out. Signals first: SIGWINCH (the window changed
// size: draw again at the new size), SIGTERM, SIGHUP and SIGINT are blocked and read
// from a signalfd in the same poll(2) as the keys, so none arrives between a partial
// frame and the terminal's restore. Then raw mode (no echo, no line editing, Ctrl-C a
// byte: `q` and Ctrl-C both quit), then the alternate screen. On the way out, in
// reverse: the main screen back, the saved termios back, the signals unblocked, even
// when drawing failed.

import VitroReplay
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

struct ReplayTerminal {
    let viewer: ReplayViewer
    let input: Int32 = 0
    let output: Int32 = 1

    func size() -> (rows: Int, columns: Int) {
        guard let s = Sys.windowSize(output), s.rows > 0, s.columns > 0 else { return (24, 80) }
        return (Int(s.rows), Int(s.columns))
    }

    func draw() {
        let (rows, columns) = size()
        Sys.write(output, Array(viewer.frame(rows: rows, columns: columns).ansi.utf8))
    }

    func run() throws {
        let signals = [SIGWINCH, SIGTERM, SIGHUP, SIGINT]
        let sigfd = try Sys.signalDescriptor(signals)
        defer {
            Sys.close(sigfd)
            Sys.unblockSignals(signals)
        }
        let saved = try Sys.makeRaw(input, why: "keys reach the viewer one by one, unechoed")
        defer { try? Sys.restoreTerminal(input, saved, why: "the terminal as it was before the viewer") }
        Sys.write(output, Array(TerminalControl.enter.utf8))
        defer { Sys.write(output, Array(TerminalControl.leave.utf8)) }
        var keys = KeyDecoder()
        draw()
        while !viewer.quit {
            let ready = try Sys.poll([input, sigfd])
            if ready.contains(sigfd) {
                while let s = Sys.readSignal(sigfd) {
                    if s.signal != SIGWINCH { return }
                }
            }
            if ready.contains(input) {
                guard let bytes = try Sys.read(input, max: 4096) else { continue }
                if bytes.isEmpty { return }  // the terminal went away
                for key in keys.feed(bytes) {
                    viewer.handle(key)
                    if viewer.quit { return }
                }
            }
            draw()
        }
    }
}
