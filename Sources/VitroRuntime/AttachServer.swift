// Chapter 08: the monitor's side of `vitro attach`.
//
// The socket (`containers/ID/attach.sock`) is bound by the `vitro run -d` (or `start`)
// that forks the monitor, before the fork, so it exists as soon as the command has
// printed the id, and `start -a` can connect before the container starts and miss none
// of its output. The monitor removes it when it ends.
//
// Everything happens in the container's poll loop (`ContainerRun.watchers`), without a
// thread: the listening socket is watched for clients to accept; each client for the
// frames it sends (AttachProtocol.swift) and, while it has output queued, for room to
// write. What the container writes (the stdout and stderr pipes, or the pty master) is
// copied to the log and queued for every client; the loop never waits for a slow client,
// and a client that lets `outputLimit` bytes pile up is disconnected.
//
// Input: with `-i` and no pty, the container's stdin is a pipe whose write end the
// monitor holds (and whose read end it keeps too, so a container that closes its stdin
// is no EPIPE here); with `-t`, input goes to the pty master. A client that leaves does
// not close the container's stdin (Docker's StdinOnce is false for `run -d -i`); the
// end of a client's input does only for a container made by `create -i`. While
// more than `inputLimit` bytes wait for the container to read them, clients are not
// read: the back-pressure reaches them through their sockets.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

final class AttachServer {
    final class Client {
        let fd: Int32
        var reader = AttachFrameReader()
        var outbox: [UInt8] = []
        var sent = 0
        init(fd: Int32) { self.fd = fd }
        var hasOutput: Bool { sent < outbox.count }
    }

    static let outputLimit = 4 << 20
    static let inputLimit = 64 << 10

    let listener: Int32
    let path: String
    let tty: Bool
    let openStdin: Bool
    /// Docker's StdinOnce: the end of a client's input is the end of the container's.
    let stdinOnce: Bool
    var clients: [Int32: Client] = [:]
    /// The run that clients are attached to; nil between two runs of a restart policy.
    var run: ContainerRun?
    /// Where input goes: the stdin pipe's write end (no pty), which the server owns and
    /// closes, or the pty master.
    var input: Int32?
    var inputIsPipe = false
    /// The container's stdin has ended (stdinOnce): later input is dropped.
    var inputEnded = false
    var pendingInput: [UInt8] = []
    /// pid 1's host pid once it has exec'd: the target of a client's signals.
    var containerPid: Int32?
    /// The last size a client asked for, set on the pty when it appears.
    var size: WindowSize?

    init(listener: Int32, path: String, tty: Bool, openStdin: Bool, stdinOnce: Bool) {
        self.listener = listener
        self.path = path
        self.tty = tty
        self.openStdin = openStdin
        self.stdinOnce = stdinOnce
    }

    /// Serves `run`'s container. `stdinPipe` is the write end of its stdin pipe (-i
    /// without -t), closed by the server; with -t, input goes to the pty master once
    /// pid 1 has sent it.
    func serve(_ run: ContainerRun, stdinPipe: Int32?) {
        self.run = run
        containerPid = nil
        pendingInput = []
        input = nil
        inputIsPipe = false
        inputEnded = false
        run.watchers[listener] = LoopWatcher(interest: { .readable }, ready: { [unowned self] _ in acceptClients() })
        if let stdinPipe {
            useInput(stdinPipe)
            inputIsPipe = true
        }
        run.onTerminal = { [unowned self] master in
            if let size { try? Sys.setWindowSize(master, size, why: "the container's terminal takes the size of an attached client's") }
            useInput(master)
        }
        // A client that connected before this monitor began (start -a) is waiting.
        acceptClients()
    }

    func useInput(_ fd: Int32) {
        input = fd
        guard openStdin, let run else { return }
        run.watchers[fd] = LoopWatcher(
            interest: { [unowned self] in pendingInput.isEmpty ? [] : .writable },
            ready: { [unowned self] _ in flushInput() })
        flushInput()
    }

    func started(pid: Int32) { containerPid = pid }

    func acceptClients() {
        while let fd = Sys.accept(listener) {
            let c = Client(fd: fd)
            clients[fd] = c
            run?.watchers[fd] = LoopWatcher(
                interest: { [unowned self] in
                    var e: PollEvents = c.hasOutput ? .writable : []
                    if pendingInput.count < Self.inputLimit { e.insert(.readable) }
                    return e
                },
                ready: { [unowned self] events in
                    if events.contains(.writable) { flush(c) }
                    if events.contains(.readable), clients[c.fd] === c { receive(c) }
                })
            queue(AttachFrame.hello(tty: tty, openStdin: openStdin).encode(), to: c)
        }
    }

    /// What the container wrote, for every client.
    func broadcast(_ bytes: [UInt8], _ kind: AttachFrame.Kind) {
        guard !clients.isEmpty else { return }
        let frame = AttachFrame(kind, bytes).encode()
        for c in clients.values.sorted(by: { $0.fd < $1.fd }) { queue(frame, to: c) }
    }

    func queue(_ bytes: [UInt8], to c: Client) {
        if c.sent > 0 {
            c.outbox.removeSubrange(0..<c.sent)
            c.sent = 0
        }
        c.outbox += bytes
        flush(c)
        if c.outbox.count - c.sent > Self.outputLimit { drop(c) }
    }

    func flush(_ c: Client) {
        while c.hasOutput {
            do {
                let n = try Sys.sendSome(c.fd, c.outbox[c.sent...])
                if n == 0 { return }
                c.sent += n
            } catch {
                drop(c)
                return
            }
        }
        c.outbox.removeAll(keepingCapacity: true)
        c.sent = 0
    }

    func receive(_ c: Client) {
        let chunk: [UInt8]
        do {
            guard let got = try Sys.read(c.fd) else { return }  // EAGAIN
            chunk = got
        } catch {
            drop(c)
            return
        }
        if chunk.isEmpty {
            // The client detached (or ended): the container's stdin stays open.
            drop(c)
            return
        }
        c.reader.append(chunk)
        do {
            while let frame = try c.reader.next() { handle(frame) }
        } catch {
            drop(c)
        }
    }

    func handle(_ frame: AttachFrame) {
        switch frame.kind {
        case .stdin:
            guard openStdin, !inputEnded else { return }
            pendingInput += frame.payload
            flushInput()
        case .stdinEnd:
            guard openStdin, stdinOnce, !inputEnded else { return }
            inputEnded = true
            // A pty has no end of its own: the EOF character at the start of a line
            // is one, as a terminal sends it.
            if tty { pendingInput += [4] }
            flushInput()
            if pendingInput.isEmpty { endInput() }
        case .resize:
            guard tty, let s = frame.size, s.rows > 0, s.columns > 0 else { return }
            size = WindowSize(rows: s.rows, columns: s.columns)
            if let master = run?.terminal?.master, let size {
                try? Sys.setWindowSize(master, size, why: "an attached client's window changed size: the container's terminal follows")
            }
        case .signal:
            guard let sig = frame.number, sig > 0, sig < 65, let pid = containerPid else { return }
            try? Sys.kill(pid, sig, why: "sig-proxy: an attached client received this signal and passes it on to pid 1")
        case .stdout, .stderr, .hello, .exit:
            return  // the monitor's own kinds: a client has no business sending them
        }
    }

    func flushInput() {
        guard let fd = input else { return }
        var done = 0
        while done < pendingInput.count {
            do {
                let n = try Sys.writeSome(fd, pendingInput[done...])
                if n == 0 { break }
                done += n
            } catch {
                // The container's end is gone (its pty closed): nothing can be delivered.
                done = pendingInput.count
            }
        }
        pendingInput.removeSubrange(0..<done)
        if inputEnded, pendingInput.isEmpty { endInput() }
    }

    /// Closes the container's stdin pipe (its reader sees end of file once what was
    /// written has been read); the pty stays, for the container's output.
    func endInput() {
        guard inputIsPipe, let fd = input else { return }
        run?.watchers[fd] = nil
        Sys.close(fd)
        input = nil
        inputIsPipe = false
    }

    func drop(_ c: Client) {
        guard clients[c.fd] === c else { return }
        clients[c.fd] = nil
        run?.watchers[c.fd] = nil
        Sys.close(c.fd)
    }

    /// The container has ended: each client gets what is still queued and the exit
    /// frame (nil: it never started, and clients just see the end), within two seconds,
    /// and is disconnected, as Docker's attach ends with the container.
    func ended(code: Int32?) {
        if let code { for c in clients.values { queue(AttachFrame.exit(code).encode(), to: c) } }
        let deadline = MonotonicClock.now() + 2_000_000_000
        while clients.values.contains(where: \.hasOutput), MonotonicClock.now() < deadline {
            let waiting = clients.values.filter(\.hasOutput)
            var interest: [Int32: PollEvents] = [:]
            for c in waiting { interest[c.fd] = .writable }
            guard (try? Sys.poll(interest, timeoutMillis: 100)) != nil else { break }
            for c in waiting { flush(c) }
        }
        for c in Array(clients.values) { drop(c) }
        if inputIsPipe, let input { Sys.close(input) }
        run?.watchers = [:]
        run?.onTerminal = nil
        run = nil
        input = nil
        inputIsPipe = false
        pendingInput = []
        containerPid = nil
    }

    /// The monitor is ending: the socket goes.
    func close() {
        for c in Array(clients.values) { drop(c) }
        Sys.close(listener)
        try? Sys.unlink(path, why: "the monitor has ended: nobody is left to attach to")
    }
}
