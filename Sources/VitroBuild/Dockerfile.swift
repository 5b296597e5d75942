// Chapter 10: a Dockerfile as a list of instructions.
//
// The grammar is small and line-based (docs.docker.com/reference/dockerfile):
//   - parser directives (`# escape=\``) may open the file, before any other line;
//   - a line that starts with `#` is a comment, also inside a continued instruction;
//   - a line that ends with the escape character (`\` unless the directive changed it)
//     continues on the next one; the pieces are joined as they are, without the newline;
//   - an instruction is a keyword (case does not matter) and the rest of the line.
// Nothing is interpreted here beyond that: variables are substituted per step, when
// their values are known (ShellWords.swift), and each keyword's arguments are read by
// the step that runs it (ImageBuilder+Steps.swift). An unknown keyword stops the parse
// with the line it is on, before anything is built.

/// One instruction of a Dockerfile.
public struct Instruction: Sendable, Equatable {
    /// The line the instruction starts on (1-based).
    public var line: Int
    /// The keyword, upper-cased: "RUN".
    public var keyword: String
    /// What follows the keyword, continuations joined, trimmed.
    public var arguments: String
    /// The keyword as written and the arguments: what `Step N/M :` shows.
    public var original: String

    public init(line: Int, keyword: String, arguments: String, original: String) {
        self.line = line
        self.keyword = keyword
        self.arguments = arguments
        self.original = original
    }
}

public enum Dockerfile {
    /// The keywords vitro builds (HEALTHCHECK is known but refused when reached).
    public static let keywords: Set<String> = [
        "FROM", "MAINTAINER", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
        "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "SHELL", "HEALTHCHECK",
    ]

    /// The instructions of `text`, and the escape character in force.
    public static func parse(_ text: String) throws(BuildError) -> (instructions: [Instruction], escape: Character) {
        var escape: Character = "\\"
        var out: [Instruction] = []
        var pending: (line: Int, text: String)?
        var directivesOpen = true
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        for (i, raw) in lines.enumerated() {
            let number = i + 1
            let trimmed = raw.drop { $0 == " " || $0 == "\t" }
            if directivesOpen {
                if let (key, value) = directive(trimmed) {
                    if key == "escape" {
                        guard value == "\\" || value == "`" else {
                            throw BuildError("dockerfile parse error line \(number): invalid escape token '\(value)' does not match ` or \\")
                        }
                        escape = Character(value)
                    }
                    continue
                }
                directivesOpen = false
            }
            if trimmed.hasPrefix("#") { continue }
            if pending == nil && trimmed.isEmpty { continue }
            var piece = String(pending == nil ? trimmed : raw)
            let end = piece.reversed().drop { $0 == " " || $0 == "\t" }
            let continued = end.first == escape
            if continued {
                piece = String(end.dropFirst().reversed())
            }
            if var p = pending {
                p.text += piece
                pending = p
            } else {
                pending = (number, piece)
            }
            if continued, number < lines.count { continue }
            if let p = pending {
                try out.append(instruction(p.text, line: p.line))
                pending = nil
            }
        }
        return (out, escape)
    }

    /// `# key=value` at the top of the file, or nil when the line is not a directive.
    static func directive(_ line: Substring) -> (String, String)? {
        guard line.hasPrefix("#") else { return nil }
        let body = line.dropFirst().drop { $0 == " " || $0 == "\t" }
        guard let eq = body.firstIndex(of: "=") else { return nil }
        let key = body[..<eq].trimmingSpaces.lowercased()
        guard ["escape", "syntax", "check"].contains(key) else { return nil }
        return (key, String(body[body.index(after: eq)...].trimmingSpaces))
    }

    static func instruction(_ text: String, line: Int) throws(BuildError) -> Instruction {
        let word = text.prefix { $0 != " " && $0 != "\t" }
        let keyword = word.uppercased()
        guard keywords.contains(keyword) else {
            throw BuildError("dockerfile parse error line \(line): unknown instruction: \(word)")
        }
        let arguments = String(text.dropFirst(word.count).trimmingSpaces)
        if arguments.isEmpty {
            throw BuildError("dockerfile parse error line \(line): \(keyword) requires at least one argument")
        }
        return Instruction(line: line, keyword: keyword, arguments: arguments, original: String(word) + " " + arguments)
    }
}

extension StringProtocol {
    /// Without leading and trailing blanks (spaces, tabs, line ends).
    var trimmingSpaces: Substring {
        let s = Substring(self)
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = s.firstIndex(where: { !blank($0) }), let last = s.lastIndex(where: { !blank($0) }) else { return "" }
        return s[first...last]
    }
}
