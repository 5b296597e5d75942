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
// but while one is more than `highWater` bytes behind, the loop stops reading the
// container's output, which then waits in its pipes (Docker's attach slows the
// container too, and nothing is lost).
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
        /// What waits to be sent: frames' headers and payloads (a payload is shared by
        /// every client's queue, not copied), from `head`, the first from `offset`.
        var chunks: [[UInt8]] = []
        var head = 0
        var offset = 0
        var queued = 0
        init(fd: Int32) { self.fd = fd }
        var hasOutput: Bool { queued > 0 }
    }

    /// Past this many bytes queued for one client, the container's output waits in its
    /// pipes (or pty) until the client has read: as with Docker, a slow client slows the
    /// container rather than missing what it wrote.
    static let highWater = 1 << 20
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

    /// The socket file as it was bound: a `start` that follows the container's end may
    /// bind a new one at the same path while this monitor is still finishing.
    let identity: FileIdentity?

    init(listener: Int32, path: String, identity: FileIdentity?, tty: Bool, openStdin: Bool, stdinOnce: Bool) {
        self.listener = listener
        self.path = path
        self.identity = identity
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
        run.holdPumps = { [unowned self] in backlogged }
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
            queue([AttachFrame.hello(tty: tty, openStdin: openStdin).encode()], to: c)
        }
    }

    /// What the container wrote, for every client.
    func broadcast(_ bytes: [UInt8], _ kind: AttachFrame.Kind) {
        guard !clients.isEmpty else { return }
        let header = AttachFrame.header(kind, count: bytes.count)
        for c in clients.values.sorted(by: { $0.fd < $1.fd }) { queue([header, bytes], to: c) }
    }

    /// Whether a client is so far behind that the container's output should wait.
    var backlogged: Bool { clients.values.contains { $0.queued > Self.highWater } }

    func queue(_ chunks: [[UInt8]], to c: Client) {
        for chunk in chunks where !chunk.isEmpty {
            c.chunks.append(chunk)
            c.queued += chunk.count
        }
        flush(c)
    }

    /// Sends what the client's socket takes now. Returns the number of bytes sent.
    @discardableResult
    func flush(_ c: Client) -> Int {
        var sent = 0
        while c.head < c.chunks.count {
            let n: Int
            do { n = try Sys.sendSome(c.fd, c.chunks[c.head][c.offset...]) } catch {
                drop(c)
                return sent
            }
            if n == 0 { break }
            sent += n
            c.queued -= n
            c.offset += n
            if c.offset == c.chunks[c.head].count {
                c.head += 1
                c.offset = 0
            }
        }
        if c.head == c.chunks.count {
            c.chunks.removeAll(keepingCapacity: true)
            c.head = 0
        } else if c.head >= 64 {
            c.chunks.removeFirst(c.head)
            c.head = 0
        }
        return sent
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
    /// frame (nil: it never started, and clients just see the end), and is disconnected,
    /// as Docker's attach ends with the container. A client that reads nothing for 10 s
    /// is given up.
    func ended(code: Int32?) {
        if let code { for c in clients.values { queue([AttachFrame.exit(code).encode()], to: c) } }
        var lastProgress = MonotonicClock.now()
        while clients.values.contains(where: \.hasOutput), MonotonicClock.now() - lastProgress < 10_000_000_000 {
            let waiting = clients.values.filter(\.hasOutput)
            var interest: [Int32: PollEvents] = [:]
            for c in waiting { interest[c.fd] = .writable }
            guard (try? Sys.poll(interest, timeoutMillis: 100)) != nil else { break }
            for c in waiting where flush(c) > 0 { lastProgress = MonotonicClock.now() }
        }
        for c in Array(clients.values) { drop(c) }
        if inputIsPipe, let input { Sys.close(input) }
        run?.watchers = [:]
        run?.onTerminal = nil
        run?.holdPumps = nil
        run = nil
        input = nil
        inputIsPipe = false
        pendingInput = []
        containerPid = nil
    }

    /// The monitor is ending: its socket goes (not a newer monitor's at the same path).
    func close() {
        for c in Array(clients.values) { drop(c) }
        Sys.close(listener)
        if let identity, Sys.fileIdentity(path) == identity {
            try? Sys.unlink(path, why: "the monitor has ended: nobody is left to attach to")
        }
    }
}
