// Chapter 10: the little shell a Dockerfile speaks in its arguments.
//
// Docker substitutes variables in ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER,
// VOLUME, WORKDIR and ONBUILD, never in RUN, CMD or ENTRYPOINT (their shell does that
// when the command runs). The values are the image's ENV so far and the build's ARGs,
// an ENV winning over an ARG of the same name. The forms are `$NAME`, `${NAME}`,
// `${NAME:-default}` and `${NAME:+alternative}`; nothing is substituted inside single
// quotes or after the escape character. Substitution keeps quotes and escapes; `split`
// then makes words of the text the way a shell would, removing them.

import VitroCommit
import VitroTrace

public enum ShellWords {
    /// `text` with its variables replaced by `lookup`'s values (unset: empty).
    public static func expand(_ text: String, escape: Character = "\\", _ lookup: (String) -> String?) throws(BuildError) -> String {
        let chars = Array(text)
        var out = ""
        var i = 0
        var single = false
        var double = false
        while i < chars.count {
            let c = chars[i]
            if c == escape, !single, i + 1 < chars.count {
                out.append(c)
                out.append(chars[i + 1])
                i += 2
                continue
            }
            if c == "'" && !double { single.toggle() }
            if c == "\"" && !single { double.toggle() }
            guard c == "$", !single, i + 1 < chars.count else {
                out.append(c)
                i += 1
                continue
            }
            if chars[i + 1] == "{" {
                guard let close = chars[(i + 2)...].firstIndex(of: "}") else {
                    throw BuildError("missing '}' in \"\(text)\"")
                }
                let body = String(chars[(i + 2)..<close])
                out += try braced(body, text: text, escape: escape, lookup)
                i = close + 1
                continue
            }
            var j = i + 1
            if chars[j].isASCII && chars[j].isNumber {
                // `$1`: a positional parameter, which a Dockerfile never has (Docker's rule).
                i = j + 1
                continue
            }
            while j < chars.count, isNameCharacter(chars[j], first: j == i + 1) { j += 1 }
            if j == i + 1 {
                out.append(c)
                i += 1
                continue
            }
            out += lookup(String(chars[(i + 1)..<j])) ?? ""
            i = j
        }
        return out
    }

    /// `${…}`: NAME, NAME:-WORD or NAME:+WORD.
    static func braced(_ body: String, text: String, escape: Character, _ lookup: (String) -> String?) throws(BuildError) -> String {
        let name = String(body.prefix { isNameCharacter($0, first: false) })
        guard !name.isEmpty, let f = name.first, isNameCharacter(f, first: true) else {
            throw BuildError("bad substitution \"${\(body)}\" in \"\(text)\"")
        }
        let rest = body.dropFirst(name.count)
        let value = lookup(name)
        if rest.isEmpty { return value ?? "" }
        if rest.hasPrefix(":-") {
            let word = try expand(String(rest.dropFirst(2)), escape: escape, lookup)
            return (value?.isEmpty ?? true) ? word : value ?? ""
        }
        if rest.hasPrefix(":+") {
            let word = try expand(String(rest.dropFirst(2)), escape: escape, lookup)
            return (value?.isEmpty ?? true) ? "" : word
        }
        throw BuildError("unsupported modifier in \"${\(body)}\" (only ${NAME:-word} and ${NAME:+word})")
    }

    static func isNameCharacter(_ c: Character, first: Bool) -> Bool {
        c == "_" || (c.isASCII && c.isLetter) || (!first && c.isASCII && c.isNumber)
    }

    /// Words with shell quoting: "a b", 'a b', the escape character before any character.
    public static func split(_ text: String, escape: Character = "\\") throws(BuildError) -> [String] {
        guard let words = ConfigInstruction.shellWords(text, escape: escape) else { throw BuildError("unterminated quote in \"\(text)\"") }
        return words
    }

    /// The exec (JSON) form: `["a", "b"]`, or nil when the text is not a JSON array of strings.
    public static func jsonArray(_ text: String) -> [String]? {
        guard text.hasPrefix("["), let v = try? JSONReader.parse(text), let a = v.array else { return nil }
        let list = a.compactMap(\.string)
        return list.count == a.count ? list : nil
    }

    /// Leading `--name=value` flags (COPY --chown=…, ADD --chmod=…) and what follows them.
    public static func flags(_ text: String) -> (flags: [(String, String)], rest: String) {
        var rest = Substring(text)
        var flags: [(String, String)] = []
        while rest.hasPrefix("--") {
            let word = rest.prefix { $0 != " " && $0 != "\t" }
            let body = word.dropFirst(2)
            if let eq = body.firstIndex(of: "=") {
                flags.append((String(body[..<eq]), String(body[body.index(after: eq)...])))
            } else {
                flags.append((String(body), ""))
            }
            rest = rest.dropFirst(word.count).drop { $0 == " " || $0 == "\t" }
        }
        return (flags, String(rest))
    }
}
