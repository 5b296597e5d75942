// Chapter 12: lines of styled text for the terminal viewer, and their ANSI form.
//
// The viewer draws with a handful of SGR attributes (bold, reverse, colours) and
// cursor addressing (ECMA-48), as any terminal since the VT100 understands them; no
// curses library. A frame is a full redraw: home, each row cleared to its end, the rest
// of the screen cleared. Widths count characters: the viewer writes ASCII, and text
// from a trace that is not (a path with "…") counts one column per character.

public enum TextStyle: Sendable, Equatable {
    case plain, bold, dim, reverse, error, highlight, heading, marked

    var sgr: String {
        switch self {
        case .plain: return ""
        case .bold: return "\u{1B}[1m"
        case .dim: return "\u{1B}[2m"
        case .reverse: return "\u{1B}[7m"
        case .error: return "\u{1B}[1;31m"
        case .highlight: return "\u{1B}[1;30;43m"
        case .heading: return "\u{1B}[1;36m"
        case .marked: return "\u{1B}[1;7;32m"
        }
    }
}

public struct StyledLine: Sendable, Equatable {
    public var spans: [(text: String, style: TextStyle)] = []
    /// Style of the whole row (the current event's row is reversed to its end).
    public var fill: TextStyle = .plain

    public init(_ text: String = "", _ style: TextStyle = .plain, fill: TextStyle = .plain) {
        if !text.isEmpty { spans.append((Self.printable(text), style)) }
        self.fill = fill
    }

    /// Control characters (a tab, a newline in a value) as spaces: one column each.
    static func printable(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 32 || $0 == 127 }) else { return s }
        return String(s.map { c -> Character in
            if let a = c.asciiValue, a < 32 || a == 127 { return " " }
            return c
        })
    }

    public static func == (a: StyledLine, b: StyledLine) -> Bool {
        a.fill == b.fill && a.spans.count == b.spans.count
            && zip(a.spans, b.spans).allSatisfy { $0.text == $1.text && $0.style == $1.style }
    }

    public mutating func add(_ text: String, _ style: TextStyle = .plain) {
        if !text.isEmpty { spans.append((Self.printable(text), style)) }
    }

    public static func + (a: StyledLine, b: StyledLine) -> StyledLine {
        var r = a
        r.spans += b.spans
        return r
    }

    public var text: String { spans.map(\.text).joined() }
    public var count: Int { spans.reduce(0) { $0 + $1.text.count } }

    /// The line cut to `width` columns (control characters shown as spaces), with its
    /// attributes, padded to the width when it has a fill style.
    public func ansi(width: Int) -> String {
        var out = fill.sgr
        var room = width
        for (text, style) in spans where room > 0 {
            let t = String(text.prefix(room))
            room -= t.count
            if style != .plain && style != fill { out += style.sgr + t + "\u{1B}[0m" + fill.sgr } else { out += t }
        }
        if fill != .plain, room > 0 { out += String(repeating: " ", count: room) }
        if fill != .plain { out += "\u{1B}[0m" }
        return out
    }

    /// Splits a long line into lines of at most `width` columns, at a space when there
    /// is one near the end of the line (else in the middle of a word: a long path),
    /// the continuations indented by `indent` spaces. Styles are kept.
    public func wrapped(width: Int, indent: Int = 2) -> [StyledLine] {
        guard width > indent + 8, count > width else { return [self] }
        var cells: [(Character, TextStyle)] = []
        for (text, style) in spans { for c in text { cells.append((c, style)) } }
        var lines: [StyledLine] = []
        var start = 0
        var first = true
        while start < cells.count {
            let room = first ? width : width - indent
            var end = min(start + room, cells.count)
            if end < cells.count {
                // Break after the last space in the last third of the line.
                var i = end
                while i > start + room * 2 / 3, cells[i - 1].0 != " " { i -= 1 }
                if i > start + room * 2 / 3 { end = i }
            }
            var line = StyledLine(first ? "" : String(repeating: " ", count: indent), fill: fill)
            var run = ""
            var runStyle = cells[start].1
            for (c, st) in cells[start..<end] {
                if st != runStyle {
                    line.add(run, runStyle)
                    run = ""
                    runStyle = st
                }
                run.append(c)
            }
            line.add(run, runStyle)
            lines.append(line)
            start = end
            first = false
        }
        return lines
    }
}

/// A frame: rows of styled text for a terminal of `rows` x `columns`.
public struct Frame: Sendable, Equatable {
    public var rows: [StyledLine]
    public var columns: Int

    /// The whole frame as bytes for the terminal: cursor home, every row, clear below.
    public var ansi: String {
        var out = "\u{1B}[H"
        for (i, r) in rows.enumerated() {
            out += r.ansi(width: columns) + "\u{1B}[K"
            if i < rows.count - 1 { out += "\r\n" }
        }
        return out + "\u{1B}[J"
    }

    /// The frame as plain text, each row cut at the frame's width as the terminal
    /// shows it (tests, and what a screen capture shows).
    public var text: String { rows.map { String($0.text.prefix(columns)) }.joined(separator: "\n") }
}

/// The escape sequences the viewer's terminal driver writes around a session.
public enum TerminalControl {
    /// The alternate screen (the shell's screen comes back afterwards), cursor hidden.
    public static let enter = "\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J"
    /// Cursor shown, attributes reset, the main screen back.
    public static let leave = "\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l"
}
