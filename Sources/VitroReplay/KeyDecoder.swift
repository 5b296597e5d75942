// Chapter 12: keys from a terminal in raw mode. A key is one byte, or an escape
// sequence for the arrows and paging keys (ECMA-48 CSI, and the SS3 form some
// terminals send for arrows). A lone ESC is the Escape key.

public enum Key: Sendable, Equatable {
    case char(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, tab, backTab, backspace, escape
    case control(Character)
}

public struct KeyDecoder: Sendable {
    var pending: [UInt8] = []

    public init() {}

    /// Feeds bytes read from the terminal; returns the complete keys. An ESC at the
    /// end of a read is taken as the Escape key (terminals send a sequence in one write).
    public mutating func feed(_ bytes: [UInt8]) -> [Key] {
        pending += bytes
        var keys: [Key] = []
        var i = 0
        let b = pending
        while i < b.count {
            let c = b[i]
            if c == 0x1B {
                if i + 1 >= b.count { keys.append(.escape); i += 1; continue }
                let n = b[i + 1]
                if n == UInt8(ascii: "[") || n == UInt8(ascii: "O") {
                    // CSI: parameters (digits, ';') then a final byte in @..~.
                    var j = i + 2
                    while j < b.count, (b[j] >= 48 && b[j] <= 57) || b[j] == 59 { j += 1 }
                    guard j < b.count else { break }  // incomplete: wait for more
                    let params = String(decoding: b[(i + 2)..<j], as: UTF8.self)
                    keys.append(Self.sequence(final: b[j], params: params) ?? .escape)
                    i = j + 1
                    continue
                }
                keys.append(.escape)
                i += 1
                continue
            }
            // A UTF-8 character: its length from the first byte.
            let len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1
            guard i + len <= b.count else { break }
            keys.append(Self.single(Array(b[i..<(i + len)])))
            i += len
        }
        pending = Array(b[i...])
        return keys
    }

    static func single(_ bytes: [UInt8]) -> Key {
        guard bytes.count == 1, let c = bytes.first else {
            return .char(String(decoding: bytes, as: UTF8.self).first ?? "?")
        }
        switch c {
        case 13, 10: return .enter
        case 9: return .tab
        case 127, 8: return .backspace
        case 1...26: return .control(Character(Unicode.Scalar(c + 96)))
        default: return .char(Character(Unicode.Scalar(c)))
        }
    }

    static func sequence(final: UInt8, params: String) -> Key? {
        switch final {
        case UInt8(ascii: "A"): return .up
        case UInt8(ascii: "B"): return .down
        case UInt8(ascii: "C"): return .right
        case UInt8(ascii: "D"): return .left
        case UInt8(ascii: "H"): return .home
        case UInt8(ascii: "F"): return .end
        case UInt8(ascii: "Z"): return .backTab
        case UInt8(ascii: "~"):
            switch params {
            case "1", "7": return .home
            case "4", "8": return .end
            case "5": return .pageUp
            case "6": return .pageDown
            default: return nil
            }
        default: return nil
        }
    }
}
