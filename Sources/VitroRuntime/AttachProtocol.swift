// Chapter 08: the attach protocol, spoken over a detached container's attach socket
// (`containers/ID/attach.sock`, mode 0600) between its monitor and `vitro attach`.
//
// A unix stream socket carries a stream of frames in both directions. Each frame has
// the 8-byte header of Docker's multiplexed attach stream (its `stdcopy` format), then
// the payload:
//
//     byte 0     kind
//     bytes 1-3  zero
//     bytes 4-7  payload length, unsigned, big-endian
//
//     kind  from      payload
//     0     client    stdin: bytes for the container's stdin (its pipe, or its pty)
//     1     monitor   stdout: what the container wrote (all of it, when it has a pty)
//     2     monitor   stderr
//     16    monitor   hello, the first frame of every connection: one byte of flags,
//                     bit 0 the container has a pty (-t), bit 1 its stdin is open (-i)
//     17    client    resize: rows and columns (u16 big-endian each), for the pty
//     18    client    signal: a signal number (u32 big-endian) for pid 1 (sig-proxy)
//     19    monitor   exit: the container's exit code (i32 big-endian), the last frame
//     20    client    stdin-end: the client's stdin has ended (no payload)
//
// Kinds 0-2 are Docker's stream ids; the others carry what Docker's API sends as
// separate HTTP requests (resize, kill, wait). A client detaches by closing its end:
// the container's stdin stays open (Docker's default for `run -d -i`), so the next
// client can go on typing into it. Only a container made by `create -i` or a
// foreground `run -i` (Docker's StdinOnce) has its stdin closed by a stdin-end: the
// pipe's write end is closed, or a pty gets the EOF character. A frame of an unknown
// kind, or longer than `maxPayload`, ends the connection.

public struct AttachFrame: Equatable, Sendable {
    public enum Kind: UInt8, Sendable {
        case stdin = 0, stdout = 1, stderr = 2
        case hello = 16, resize = 17, signal = 18, exit = 19, stdinEnd = 20
    }

    public var kind: Kind
    public var payload: [UInt8]

    /// No frame is longer: a monitor reads at most this much of one client at a time.
    public static let maxPayload = 1 << 20
    static let headerSize = 8

    public init(_ kind: Kind, _ payload: [UInt8] = []) {
        self.kind = kind
        self.payload = payload
    }

    public func encode() -> [UInt8] { Self.header(kind, count: payload.count) + payload }

    /// The 8 bytes before a payload of `count` bytes.
    public static func header(_ kind: Kind, count: Int) -> [UInt8] {
        let n = UInt32(count)
        return [kind.rawValue, 0, 0, 0, UInt8(n >> 24), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
    }

    // MARK: control frames

    public static func hello(tty: Bool, openStdin: Bool) -> AttachFrame {
        AttachFrame(.hello, [(tty ? 1 : 0) | (openStdin ? 2 : 0)])
    }

    /// The flags of a hello frame.
    public var hello: (tty: Bool, openStdin: Bool)? {
        guard kind == .hello, let flags = payload.first else { return nil }
        return (flags & 1 != 0, flags & 2 != 0)
    }

    public static func resize(rows: UInt16, columns: UInt16) -> AttachFrame {
        AttachFrame(.resize, [UInt8(rows >> 8), UInt8(rows & 0xff), UInt8(columns >> 8), UInt8(columns & 0xff)])
    }

    /// The size of a resize frame.
    public var size: (rows: UInt16, columns: UInt16)? {
        guard kind == .resize, payload.count == 4 else { return nil }
        return (UInt16(payload[0]) << 8 | UInt16(payload[1]), UInt16(payload[2]) << 8 | UInt16(payload[3]))
    }

    public static func signal(_ number: Int32) -> AttachFrame { AttachFrame(.signal, bigEndian(UInt32(bitPattern: number))) }
    public static func exit(_ code: Int32) -> AttachFrame { AttachFrame(.exit, bigEndian(UInt32(bitPattern: code))) }

    /// The number a signal or exit frame carries.
    public var number: Int32? {
        guard kind == .signal || kind == .exit, payload.count == 4 else { return nil }
        return Int32(bitPattern: payload.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
}

public struct AttachProtocolError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Collects the bytes read from an attach socket and hands out whole frames.
public struct AttachFrameReader: Sendable {
    var buffer: [UInt8] = []
    var start = 0

    public init() {}

    public mutating func append(_ bytes: [UInt8]) {
        // Drop what has been handed out before the buffer grows again.
        if start > 0, start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer += bytes
    }

    /// The next whole frame, or nil until more bytes arrive.
    public mutating func next() throws(AttachProtocolError) -> AttachFrame? {
        guard buffer.count - start >= AttachFrame.headerSize else { return nil }
        let h = buffer[start..<(start + AttachFrame.headerSize)].map { $0 }
        guard let kind = AttachFrame.Kind(rawValue: h[0]), h[1] == 0, h[2] == 0, h[3] == 0 else {
            throw AttachProtocolError(message: "attach protocol: a frame of unknown kind \(h[0])")
        }
        let length = Int(h[4]) << 24 | Int(h[5]) << 16 | Int(h[6]) << 8 | Int(h[7])
        guard length <= AttachFrame.maxPayload else {
            throw AttachProtocolError(message: "attach protocol: a frame of \(length) bytes (at most \(AttachFrame.maxPayload))")
        }
        guard buffer.count - start >= AttachFrame.headerSize + length else { return nil }
        let from = start + AttachFrame.headerSize
        let frame = AttachFrame(kind, Array(buffer[from..<(from + length)]))
        start = from + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return frame
    }
}
