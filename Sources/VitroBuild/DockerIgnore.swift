// Chapter 10: `.dockerignore`, the files of the context that no ADD or COPY sees.
//
// One pattern a line (`#` lines are comments), cleaned like a path and taken relative to
// the context's root. `*` matches any run of characters but `/`, `?` one character,
// `[a-z]` a class, `**` any number of directories; a line starting with `!` is an
// exception. The last pattern that matches a path decides, and a path is excluded when
// it or one of its parent directories is (moby's patternmatcher, which `docker build`
// uses). The Dockerfile and .dockerignore themselves are read whatever the file says.

public struct DockerIgnore: Sendable {
    struct Pattern: Sendable {
        var components: [String]
        var exception: Bool
    }

    var patterns: [Pattern] = []

    /// Whether some pattern is an exception (then an excluded directory is still walked:
    /// a file inside it may be included again).
    public var hasExceptions: Bool { patterns.contains { $0.exception } }

    public init(_ text: String) {
        for raw in text.split(separator: "\n") {
            var line = raw.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            var exception = false
            if line.hasPrefix("!") {
                exception = true
                line = line.dropFirst().trimmingSpaces
            }
            let components = Self.clean(String(line))
            if components.isEmpty { continue }
            patterns.append(Pattern(components: components, exception: exception))
        }
    }

    /// Whether `path` (relative to the context, "dir/file") is excluded.
    public func excludes(_ path: String) -> Bool {
        let components = path.split(separator: "/").map(String.init)
        var excluded = false
        for p in patterns {
            var hit = false
            // The path itself or one of its parents.
            for n in stride(from: components.count, through: 1, by: -1) where Self.match(p.components[...], components[..<n]) {
                hit = true
                break
            }
            if hit { excluded = !p.exception }
        }
        return excluded
    }

    /// A pattern's components, with "." gone, ".." applied and a leading "/" dropped.
    static func clean(_ s: String) -> [String] {
        var out: [String] = []
        for c in s.split(separator: "/") {
            if c == "." { continue }
            if c == ".." {
                _ = out.popLast()
                continue
            }
            out.append(String(c))
        }
        return out
    }

    static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            let rest = pattern.dropFirst()
            var p = path
            while true {
                if match(rest, p) { return true }
                guard !p.isEmpty else { return false }
                p = p.dropFirst()
            }
        }
        guard let name = path.first, glob(first, name) else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }

    /// One component against one glob: `*`, `?`, `[…]` (with `^` or `!` to negate, and
    /// ranges), `\` before a character that is to be taken literally.
    public static func glob(_ pattern: String, _ name: String) -> Bool {
        glob(Array(pattern)[...], Array(name)[...])
    }

    static func glob(_ p: ArraySlice<Character>, _ s: ArraySlice<Character>) -> Bool {
        guard let c = p.first else { return s.isEmpty }
        switch c {
        case "*":
            var rest = s
            while true {
                if glob(p.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        case "?":
            return !s.isEmpty && glob(p.dropFirst(), s.dropFirst())
        case "[":
            guard let ch = s.first, let close = p.dropFirst(2).firstIndex(of: "]") else { return false }
            var set = p[(p.startIndex + 1)..<close]
            var negate = false
            if set.first == "^" || set.first == "!" {
                negate = true
                set = set.dropFirst()
            }
            var found = false
            var items = Array(set)
            while !items.isEmpty {
                if items.count >= 3, items[1] == "-" {
                    if items[0] <= ch && ch <= items[2] { found = true }
                    items.removeFirst(3)
                } else {
                    if items[0] == ch { found = true }
                    items.removeFirst()
                }
            }
            return found != negate && glob(p[(close + 1)...], s.dropFirst())
        case "\\":
            let literal = p.dropFirst()
            guard let l = literal.first else { return s.first == "\\" && s.count == 1 }
            return s.first == l && glob(literal.dropFirst(), s.dropFirst())
        default:
            return s.first == c && glob(p.dropFirst(), s.dropFirst())
        }
    }
}
