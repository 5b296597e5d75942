// Time for traces: CLOCK_MONOTONIC in nanoseconds, which every process on the host
// shares, so events from vitro and from vitro-init merge on one time line.
#if canImport(Glibc)
import Glibc
#endif

public enum MonotonicClock {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Wall-clock seconds since the epoch, for the trace header only.
    public static func wallSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Milliseconds with one or two decimals, as a person reads a duration.
public func formatMillis(_ nanos: UInt64) -> String {
    let ms = Double(nanos) / 1e6
    if ms >= 100 { return String(Int(ms.rounded())) + " ms" }
    if ms >= 10 { return fixed(ms, 1) + " ms" }
    return fixed(ms, 2) + " ms"
}

/// A non-negative number with `places` decimals, without Foundation's formatters.
func fixed(_ value: Double, _ places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = UInt64((value * scale).rounded())
    let whole = scaled / UInt64(scale)
    var frac = String(scaled % UInt64(scale))
    while frac.count < places { frac = "0" + frac }
    return places == 0 ? String(whole) : "\(whole).\(frac)"
}

/// A point in wall-clock time, as Docker writes it (RFC 3339 with nanoseconds, UTC).
public struct WallTime: Sendable, Equatable, Comparable {
    public var seconds: Int
    public var nanos: Int

    public init(seconds: Int, nanos: Int = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    public static func now() -> WallTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallTime(seconds: Int(ts.tv_sec), nanos: Int(ts.tv_nsec))
    }

    public static func < (a: WallTime, b: WallTime) -> Bool {
        (a.seconds, a.nanos) < (b.seconds, b.nanos)
    }

    /// `2026-11-29T02:05:49.123456789Z`.
    public var rfc3339: String {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var frac = String(nanos)
        while frac.count < 9 { frac = "0" + frac }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)).\(frac)Z"
    }

    /// Reads what `rfc3339` writes (and Docker's variants without nanoseconds).
    public init?(rfc3339 s: String) {
        let b = Array(s.utf8)
        guard b.count >= 20 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? { Int(String(decoding: b[from..<from + len], as: UTF8.self)) }
        guard let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2), let h = num(11, 2), let mi = num(14, 2), let se = num(17, 2) else { return nil }
        var tm = Glibc.tm()
        tm.tm_year = Int32(y - 1900)
        tm.tm_mon = Int32(mo - 1)
        tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h)
        tm.tm_min = Int32(mi)
        tm.tm_sec = Int32(se)
        seconds = Int(timegm(&tm))
        var n = 0
        if b.count > 20, b[19] == UInt8(ascii: ".") {
            var digits = ""
            for c in b[20...] where c >= 48 && c <= 57 { digits.append(Character(Unicode.Scalar(c))) }
            while digits.count < 9 { digits += "0" }
            n = Int(digits.prefix(9)) ?? 0
        }
        nanos = n
    }

    /// "5 seconds", "2 minutes", "3 hours": how Docker's ps says a duration.
    public static func humanDuration(_ seconds: Int) -> String {
        switch seconds {
        case ..<1: return "Less than a second"
        case 1: return "1 second"
        case ..<60: return "\(seconds) seconds"
        case ..<120: return "About a minute"
        case ..<3600: return "\(seconds / 60) minutes"
        case ..<7200: return "About an hour"
        case ..<172_800: return "\(seconds / 3600) hours"
        default: return "\(seconds / 86400) days"
        }
    }
}
