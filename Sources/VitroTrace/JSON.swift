// A small JSON writer and reader, enough for traces and the files vitro keeps.
//
// vitro-init and the start path do not import Foundation (it costs milliseconds per
// process start, see DESIGN.md), so the trace format is written and read here by hand.

/// A parsed JSON value. Object keys keep their order.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self {
            return members.first(where: { $0.0 == key })?.1
        }
        return nil
    }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    /// The number as an integer, when it is one that fits (a hostile file must not trap).
    public var int: Int64? { number.flatMap { $0.isFinite && abs($0) < 9.2e18 ? Int64($0) : nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var members: [(String, JSONValue)]? {
        if case .object(let m) = self { return m } else { return nil }
    }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

public struct JSONError: Error, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "json: \(message) at byte \(offset)" }
}

/// Appends JSON text to a byte buffer.
public struct JSONWriter {
    public var bytes: [UInt8] = []
    private var needComma: [Bool] = []

    public init() { bytes.reserveCapacity(256) }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); needComma.append(false) }
    public mutating func endObject() { needComma.removeLast(); bytes.append(UInt8(ascii: "}")) }
    public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); needComma.append(false) }
    public mutating func endArray() { needComma.removeLast(); bytes.append(UInt8(ascii: "]")) }

    /// Writes `"key":` inside an object; the value follows.
    public mutating func key(_ k: String) {
        separate()
        appendQuoted(k)
        bytes.append(UInt8(ascii: ":"))
        if !needComma.isEmpty { needComma[needComma.count - 1] = false }
    }

    public mutating func string(_ s: String) { separate(); appendQuoted(s) }
    // Numbers are written digit by digit into `bytes`, with no String in between:
    // every trace event has half a dozen, and vitro-init writes one event per call.
    public mutating func int(_ i: Int64) {
        separate()
        if i < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDigits(i.magnitude)
    }
    public mutating func uint(_ i: UInt64) { separate(); appendDigits(i) }
    public mutating func bool(_ b: Bool) { separate(); bytes.append(contentsOf: (b ? "true" : "false").utf8) }
    public mutating func null() { separate(); bytes.append(contentsOf: "null".utf8) }
    /// A number written with a fixed count of decimals (times in microseconds), rounded
    /// as `fixed` rounds.
    public mutating func decimal(_ d: Double, places: Int) {
        separate()
        if d < 0 { bytes.append(UInt8(ascii: "-")) }
        var scale: UInt64 = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = UInt64(((d < 0 ? -d : d) * Double(scale)).rounded())
        appendDigits(scaled / scale)
        guard places > 0 else { return }
        bytes.append(UInt8(ascii: "."))
        appendDigits(scaled % scale, width: places)
    }
    /// Nanoseconds as microseconds with three decimals (`31.647`), exactly: what
    /// `decimal(Double(nanos) / 1000, places: 3)` writes, without the Double.
    public mutating func micros(nanos: UInt64) {
        separate()
        appendDigits(nanos / 1000)
        bytes.append(UInt8(ascii: "."))
        appendDigits(nanos % 1000, width: 3)
    }
    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { int(Int64(n)) } else { decimal(n, places: 6) }
        case .string(let s): string(s)
        case .array(let a):
            beginArray()
            for x in a { value(x) }
            endArray()
        case .object(let m):
            beginObject()
            for (k, x) in m { key(k); value(x) }
            endObject()
        }
    }

    private mutating func separate() {
        guard !needComma.isEmpty else { return }
        if needComma[needComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needComma[needComma.count - 1] = true
    }

    /// The decimal digits of `v`, at least `width` of them (zeros in front).
    private mutating func appendDigits(_ v: UInt64, width: Int = 1) {
        let start = bytes.count
        var v = v
        repeat {
            bytes.append(UInt8(truncatingIfNeeded: 48 + v % 10))
            v /= 10
        } while v > 0 || bytes.count - start < width
        bytes[start..<bytes.count].reverse()
    }

    private mutating func appendQuoted(_ s: String) {
        // Over the string's own UTF-8 buffer: through UTF8View's generic Sequence calls
        // this was most of the cost of writing an event.
        var s = s
        s.withUTF8 { appendQuoted(bytes: $0) }
    }

    private mutating func appendQuoted(bytes buf: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var clean = true
        for b in buf where b < 32 || b == 34 || b == 92 {
            clean = false
            break
        }
        // Most strings (names, paths, why) need no escape: copied in one go.
        if clean {
            bytes.append(contentsOf: buf)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for b in buf {
            switch b {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 10: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 13: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 9: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<32:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// Parses one JSON document.
public struct JSONReader {
    private let b: [UInt8]
    private var i = 0
    /// Nesting so far; a hostile file of brackets must not overflow the stack.
    private var depth = 0
    static let maxDepth = 256

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var r = JSONReader(bytes)
        r.skipSpace()
        let v = try r.value()
        r.skipSpace()
        if r.i != r.b.count { throw JSONError(offset: r.i, message: "trailing characters") }
        return v
    }

    private init(_ bytes: [UInt8]) { b = bytes }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 32 || b[i] == 10 || b[i] == 13 || b[i] == 9 { i += 1 }
    }

    private func fail(_ m: String) -> JSONError { JSONError(offset: i, message: m) }

    private mutating func value() throws -> JSONValue {
        guard i < b.count else { throw fail("unexpected end") }
        let opens = b[i] == UInt8(ascii: "{") || b[i] == UInt8(ascii: "[")
        if opens {
            depth += 1
            guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) deep") }
        }
        defer { if opens { depth -= 1 } }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(String, JSONValue)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                members.append((k, try value()))
                skipSpace()
                guard i < b.count else { throw fail("unexpected end") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipSpace()
                items.append(try value())
                skipSpace()
                guard i < b.count else { throw fail("unexpected end") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { throw fail("bad literal") }
        i += w.count
    }

    private mutating func number() throws -> Double {
        let start = i
        while i < b.count, (b[i] >= 48 && b[i] <= 57) || b[i] == 45 || b[i] == 43 || b[i] == 46
            || b[i] == 101 || b[i] == 69
        {
            i += 1
        }
        if let d = Self.plainDecimal(b[start..<i]) { return d }
        guard let d = Double(String(decoding: b[start..<i], as: UTF8.self)) else { throw fail("bad number") }
        return d
    }

    /// Powers of ten a Double holds exactly.
    private static let exactPowers: [Double] = (0...22).map { p in (0..<p).reduce(1.0) { a, _ in a * 10 } }

    /// `-?DIGITS(.DIGITS)?` with at most 15 digits in all (every trace time, seq, pid):
    /// the digits as an integer over a power of ten, both exact, so the one rounding of
    /// the division gives what strtod gives. Nil for anything else.
    private static func plainDecimal(_ s: ArraySlice<UInt8>) -> Double? {
        var j = s.startIndex
        let negative = j < s.endIndex && s[j] == 45
        if negative { j += 1 }
        var mantissa: Int64 = 0
        var digits = 0, fraction = 0, seenPoint = false, intDigits = 0
        while j < s.endIndex {
            let c = s[j]
            if c == 46 {
                guard !seenPoint, intDigits > 0 else { return nil }
                seenPoint = true
            } else if c >= 48 && c <= 57 {
                mantissa = mantissa * 10 + Int64(c - 48)
                digits += 1
                if seenPoint { fraction += 1 } else { intDigits += 1 }
                guard digits <= 15 else { return nil }
            } else {
                return nil
            }
            j += 1
        }
        guard intDigits > 0, !seenPoint || fraction > 0 else { return nil }
        let d = Double(mantissa) / exactPowers[fraction]
        return negative ? -d : d
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw fail("short \\u escape") }
        guard let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        i += 4
        return v
    }

    private mutating func string() throws -> String {
        i += 1  // opening quote
        // Most strings have no escape: up to the closing quote in one piece.
        var j = i
        while j < b.count, b[j] != UInt8(ascii: "\""), b[j] != 92 { j += 1 }
        if j < b.count, b[j] == UInt8(ascii: "\"") {
            defer { i = j + 1 }
            return String(decoding: b[i..<j], as: UTF8.self)
        }
        var out: [UInt8] = Array(b[i..<j])
        i = j
        while i < b.count {
            let c = b[i]
            i += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c != 92 { out.append(c); continue }
            guard i < b.count else { break }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "b"): out.append(8)
            case UInt8(ascii: "f"): out.append(12)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800, scalar < 0xDC00, i + 6 <= b.count, b[i] == 92, b[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let low = try hex4()
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                let s = String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}"))
                out.append(contentsOf: Array(s.utf8))
            default: out.append(e)
            }
        }
        throw fail("unterminated string")
    }
}
