// Chapter 08: `vitro attach`, the client of a detached container's monitor.
//
// It connects to `containers/ID/attach.sock` and speaks the frames of
// AttachProtocol.swift. The monitor's first frame says whether the container has a pty
// and whether its stdin is open; then, as `docker attach` does:
//
//   - with a pty, and stdin attached from a terminal, that terminal goes into raw mode
//     (its settings come back on every way out), and its window size is sent now and
//     on every SIGWINCH: the monitor sets it on the pty;
//   - without a pty, the signals a person sends (Ctrl-C is SIGINT from the terminal)
//     are passed to pid 1 (`--sig-proxy`, on by default); with a pty, Ctrl-C is a byte
//     for the container's line discipline instead, and a signal ends only the client;
//   - what it reads from stdin goes to the container, watched for the detach keys
//     (Ctrl-P Ctrl-Q): they end the client with 0 and leave the container running;
//     end of file on stdin is passed on, and closes the container's stdin only when
//     it was made by `create -i` (Docker's StdinOnce; a `run -d -i` keeps it open);
//   - when the container ends, the monitor sends its exit code, which becomes the
//     client's.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct AttachOptions: Sendable {
    /// Send this vitro's stdin to the container (when its stdin is open); `--no-stdin`.
    public var stdin = true
    /// `--sig-proxy`: without a pty, signals this vitro receives go to pid 1.
    public var sigProxy = true
    /// `--detach-keys`.
    public var detachKeys = DetachKeys.dockerDefault
    public var stdio: [Int32] = [0, 1, 2]
    public init() {}
}

public enum ContainerAttach {
    /// `vitro attach`: follows the running container `r` until it ends (its exit code)
    /// or the client detaches (0).
    public static func attach(_ store: ContainerStore, _ r: ContainerRecord, _ options: AttachOptions) throws(RunError) -> Int32 {
        switch store.liveStatus(r) {
        case .running: break
        case .paused: throw RunError(code: 1, "you cannot attach to a paused container, unpause it first")
        case .restarting: throw RunError(code: 1, "you cannot attach to a restarting container, wait until it is running")
        case .created, .exited, .dead: throw RunError(code: 1, "you cannot attach to a stopped container, start it first")
        }
        let path = store.attachPath(r.id)
        guard Sys.fileKind(path) != .missing else {
            throw RunError(
                code: 1,
                "container \(r.id.prefix(12)) runs in the foreground of the vitro that started it: only a container with a monitor (run -d, start) can be attached")
        }
        let socket: Int32
        do { socket = try Sys.connectUnix(path) } catch { throw RunError(code: 1, "attach to container \(r.id.prefix(12)): \(error)") }
        defer { Sys.close(socket) }
        return try session(socket, store: store, id: r.id, options)
    }

    /// The client's loop over a connected attach socket.
    static func session(_ socket: Int32, store: ContainerStore, id: String, _ options: AttachOptions) throws(RunError) -> Int32 {
        let handled = [SIGWINCH] + ContainerRun.forwarded
        let signals: Int32
        do { signals = try Sys.signalDescriptor(handled) } catch { throw RunError(String(describing: error)) }
        defer {
            Sys.close(signals)
            Sys.unblockSignals(handled)
        }
        let input = options.stdio[0], output = options.stdio[1], errors = options.stdio[2]
        var saved: (fd: Int32, settings: TerminalSettings)?
        defer {
            if let saved { try? Sys.restoreTerminal(saved.fd, saved.settings, why: "attach has ended: the terminal's settings come back") }
        }
        var reader = AttachFrameReader()
        var scanner = DetachKeyScanner(options.detachKeys)
        var tty = false
        var readingStdin = false
        let sizeSource = [input, output].first { Sys.isTerminal($0) }
        // Frames for the monitor wait here and go as its socket takes them: the client
        // never blocks on sending, so it keeps reading the container's output even
        // while the container is not reading its input (or both would wait for ever).
        var outgoing: [UInt8] = []
        var sentOut = 0

        func send(_ frame: AttachFrame) {
            outgoing += frame.encode()
            flushOutgoing()
        }
        func flushOutgoing() {
            while sentOut < outgoing.count {
                guard let n = try? Sys.sendSome(socket, outgoing[sentOut...]) else {
                    // The monitor has gone: reading the socket will say so.
                    outgoing = []
                    sentOut = 0
                    return
                }
                if n == 0 { break }
                sentOut += n
            }
            if sentOut == outgoing.count {
                outgoing.removeAll(keepingCapacity: true)
                sentOut = 0
            } else if sentOut > 1 << 16 {
                outgoing.removeSubrange(0..<sentOut)
                sentOut = 0
            }
        }
        func sendSize() {
            guard tty, let source = sizeSource, let size = Sys.windowSize(source) else { return }
            send(.resize(rows: size.rows, columns: size.columns))
        }
        /// On the way out: what is queued gets a second to go.
        func drainOutgoing() {
            var waited = 0
            while sentOut < outgoing.count, waited < 1000 {
                _ = try? Sys.poll([socket: .writable], timeoutMillis: 100)
                waited += 100
                flushOutgoing()
            }
        }

        while true {
            var watch: [Int32: PollEvents] = [socket: .readable, signals: .readable]
            if sentOut < outgoing.count { watch[socket] = [.readable, .writable] }
            if readingStdin, outgoing.count - sentOut < 1 << 16 { watch[input] = .readable }
            let ready: [Int32: PollEvents]
            do { ready = try Sys.poll(watch) } catch { throw RunError(String(describing: error)) }
            if ready[socket]?.contains(.writable) == true { flushOutgoing() }

            if ready[signals] != nil {
                while let (sig, _) = Sys.readSignal(signals) {
                    if sig == SIGWINCH {
                        sendSize()
                    } else if !tty && options.sigProxy {
                        send(.signal(sig))
                    } else {
                        // As the signal's default action would: the client ends, the
                        // container runs on.
                        return 128 + sig
                    }
                }
            }

            if readingStdin, ready[input] != nil {
                let chunk = (try? Sys.read(input, max: 4096)) ?? []
                if chunk.isEmpty {
                    // The monitor decides whether the container's stdin ends too.
                    readingStdin = false
                    send(AttachFrame(.stdinEnd))
                } else {
                    let (pass, detach) = scanner.scan(chunk)
                    if !pass.isEmpty { send(AttachFrame(.stdin, pass)) }
                    if detach {
                        drainOutgoing()
                        return 0
                    }
                }
            }

            guard ready[socket]?.contains(.readable) == true else { continue }
            let chunk = (try? Sys.read(socket)) ?? []
            if chunk.isEmpty { return try lostMonitor(store, id) }
            reader.append(chunk)
            do {
                while let frame = try reader.next() {
                    switch frame.kind {
                    case .hello:
                        guard let hello = frame.hello else { continue }
                        tty = hello.tty
                        readingStdin = options.stdin && hello.openStdin
                        if tty, readingStdin, Sys.isTerminal(input) {
                            saved = (input, try Sys.makeRaw(input, why: "raw mode while attached: keys go to the container's terminal as bytes"))
                        }
                        sendSize()
                    case .stdout:
                        Sys.write(output, frame.payload)
                    case .stderr:
                        Sys.write(errors, frame.payload)
                    case .exit:
                        return frame.number ?? 0
                    case .stdin, .stdinEnd, .resize, .signal:
                        continue  // the client's own kinds
                    }
                }
            } catch {
                throw RunError("attach to container \(id.prefix(12)): \(error)")
            }
        }
    }

    /// The monitor closed the connection without an exit frame (it was killed, or the
    /// container never started): the record says how the container ended.
    static func lostMonitor(_ store: ContainerStore, _ id: String) throws(RunError) -> Int32 {
        if let code = ContainerControl.wait(store, id, timeoutMillis: 3000) { return code }
        throw RunError("attach to container \(id.prefix(12)): its monitor closed the connection while the container runs")
    }
}
