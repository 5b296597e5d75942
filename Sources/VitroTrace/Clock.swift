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
