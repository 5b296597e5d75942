// Columns as Docker prints them: Go's tabwriter with a minimum cell width of 10 and
// 3 spaces of padding, the last column unpadded.

import VitroImage

struct TextTable {
    var rows: [[String]] = []
    var minWidth = 10
    var padding = 3

    init(header: [String]) { rows = [header] }

    mutating func add(_ row: [String]) { rows.append(row) }

    var text: String {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (i, cell) in row.enumerated() where i < columns - 1 {
                widths[i] = max(widths[i], max(minWidth, cell.count + padding))
            }
        }
        var out = ""
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count) }
            }
            out += line + "\n"
        }
        return out
    }
}

/// Sizes and ages in the words `docker images` uses (go-units).
enum Human {
    /// 4.26MB, 855kB, 512B: decimal units, three significant digits.
    static func size(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var v = Double(bytes)
        var u = 0
        while v >= 1000, u < units.count - 1 {
            v /= 1000
            u += 1
        }
        return significant(v, 3) + units[u]
    }

    /// A number with `digits` significant digits and no trailing zeros (Go's %.3g).
    static func significant(_ v: Double, _ digits: Int) -> String {
        guard v > 0 else { return "0" }
        var intDigits = 1
        var x = v
        while x >= 10 {
            x /= 10
            intDigits += 1
        }
        let places = max(digits - intDigits, 0)
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let rounded = (v * scale).rounded() / scale
        var s = String(Int64(rounded))
        if places > 0 {
            var frac = String(Int64(((rounded - Double(Int64(rounded))) * scale).rounded()))
            while frac.count < places { frac = "0" + frac }
            while frac.hasSuffix("0") { frac.removeLast() }
            if !frac.isEmpty { s += "." + frac }
        }
        return s
    }

    /// "2 weeks ago", as go-units' HumanDuration words it.
    static func ago(_ seconds: Int64) -> String {
        if seconds < 1 { return "Less than a second ago" }
        if seconds == 1 { return "1 second ago" }
        if seconds < 60 { return "\(seconds) seconds ago" }
        let minutes = seconds / 60
        if minutes == 1 { return "About a minute ago" }
        if minutes < 60 { return "\(minutes) minutes ago" }
        let hours = Int64((Double(seconds) / 3600).rounded())
        if hours == 1 { return "About an hour ago" }
        if hours < 48 { return "\(hours) hours ago" }
        if hours < 24 * 7 * 2 { return "\(hours / 24) days ago" }
        if hours < 24 * 30 * 2 { return "\(hours / 24 / 7) weeks ago" }
        if hours < 24 * 365 * 2 { return "\(hours / 24 / 30) months ago" }
        return "\(hours / 24 / 365) years ago"
    }

    /// The age of an RFC 3339 time, or "N/A" when there is none.
    static func age(_ created: String?, now: Int64) -> String {
        guard let c = created, let t = parseRFC3339(c) else { return "N/A" }
        return ago(max(now - t, 0))
    }
}
