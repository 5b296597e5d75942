// Chapter 08: the detach keys of `vitro attach` (Docker's `--detach-keys`, default
// Ctrl-P Ctrl-Q). The client watches what it reads from its stdin: bytes that begin
// the sequence are held back; the whole sequence detaches (nothing of it reaches the
// container); a byte that breaks it sends the held bytes on, as Docker's escape proxy
// does, so a lone Ctrl-P still reaches the container.

public struct DetachKeys: Equatable, Sendable {
    public var bytes: [UInt8]
    /// Ctrl-P Ctrl-Q.
    public static let dockerDefault = DetachKeys(bytes: [0x10, 0x11])

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Docker's format: comma-separated keys, each one character or `ctrl-X` with X a
    /// letter or one of `@ [ \ ] ^ _` (`ctrl-p,ctrl-q`, `ctrl-a,x`).
    public static func parse(_ text: String) throws(RunError) -> DetachKeys {
        var bytes: [UInt8] = []
        for key in text.split(separator: ",", omittingEmptySubsequences: false) {
            let k = key.lowercased()
            if key.utf8.count == 1, let b = key.utf8.first {
                bytes.append(b)
            } else if k.hasPrefix("ctrl-"), k.utf8.count == 6, let c = k.utf8.last, let code = control(c) {
                bytes.append(code)
            } else {
                throw RunError(code: 1, "invalid detach keys (\(text)) provided: unknown key \"\(key)\"")
            }
        }
        return DetachKeys(bytes: bytes)
    }

    /// The byte of Ctrl and `c`: letters are 1-26, `@` 0, `[ \ ] ^ _` 27-31.
    static func control(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 1
        case UInt8(ascii: "@"): return 0
        case UInt8(ascii: "["): return 27
        case UInt8(ascii: "\\"): return 28
        case UInt8(ascii: "]"): return 29
        case UInt8(ascii: "^"): return 30
        case UInt8(ascii: "_"): return 31
        default: return nil
        }
    }
}

/// Watches input for the detach keys across reads.
public struct DetachKeyScanner: Sendable {
    let keys: [UInt8]
    /// How many bytes of the sequence have been seen (and held back).
    var matched = 0

    public init(_ keys: DetachKeys) { self.keys = keys.bytes }

    /// The bytes of `chunk` to pass on, and whether the sequence is complete (what came
    /// after it in the chunk is dropped: the client is leaving).
    public mutating func scan(_ chunk: [UInt8]) -> (pass: [UInt8], detach: Bool) {
        guard !keys.isEmpty else { return (chunk, false) }
        var out: [UInt8] = []
        for b in chunk {
            if b == keys[matched] {
                matched += 1
                if matched == keys.count {
                    matched = 0
                    return (out, true)
                }
                continue
            }
            // The sequence broke: what was held goes on, and this byte may start it anew.
            out += keys[0..<matched]
            matched = 0
            if b == keys[0] {
                matched = 1
                if matched == keys.count { return (out, true) }
            } else {
                out.append(b)
            }
        }
        return (out, false)
    }
}
