// Chapter 09: `commit -c` and `import -c`, Dockerfile instructions that change an
// image's config without a layer: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME,
// WORKDIR and STOPSIGNAL (the ones `docker commit --change` takes, and STOPSIGNAL).
// The same parser serves a Dockerfile's config instructions (chapter 10).
//
// The syntax is the Dockerfile's: CMD and ENTRYPOINT take a JSON array of strings (the
// exec form) or plain text (the shell form, run as `/bin/sh -c TEXT`); ENV and LABEL take
// KEY=VALUE pairs with shell-like quoting, or ENV's old `KEY VALUE` form; EXPOSE takes
// PORT[/PROTO]; VOLUME a JSON array or words; a relative WORKDIR is taken relative to
// the one before.

import VitroTrace

/// The run-time part of an image config (the `config` object): Docker's names, in the
/// order they were found. Members vitro does not model are kept as they are.
public struct RunConfig: Sendable, Equatable {
    public var members: [(String, JSONValue)]

    public init(_ value: JSONValue?) {
        members = value?.members ?? []
    }

    public static func == (a: RunConfig, b: RunConfig) -> Bool { JSONValue.object(a.members) == JSONValue.object(b.members) }

    public var json: JSONValue { .object(members) }

    public subscript(key: String) -> JSONValue? {
        get { members.first { $0.0 == key }?.1 }
        set {
            if let i = members.firstIndex(where: { $0.0 == key }) {
                if let newValue { members[i].1 = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    public func strings(_ key: String) -> [String]? { self[key]?.array?.compactMap(\.string) }

    public mutating func setStrings(_ key: String, _ list: [String]?) {
        self[key] = list.map { .array($0.map(JSONValue.string)) } ?? .null
    }

    /// Sets `KEY=VALUE` in Env, replacing an earlier value of KEY in place.
    public mutating func setEnv(_ key: String, _ value: String) {
        var env = strings("Env") ?? []
        if let i = env.firstIndex(where: { $0 == key || $0.hasPrefix(key + "=") }) {
            env[i] = key + "=" + value
        } else {
            env.append(key + "=" + value)
        }
        setStrings("Env", env)
    }

    /// Adds a key to a set-like object (ExposedPorts, Volumes: `{"80/tcp":{}}`).
    mutating func addToSet(_ key: String, _ item: String) {
        var m = self[key]?.members ?? []
        if !m.contains(where: { $0.0 == item }) { m.append((item, .object([]))) }
        self[key] = .object(m)
    }

    mutating func setInObject(_ key: String, _ item: String, _ value: String) {
        var m = self[key]?.members ?? []
        if let i = m.firstIndex(where: { $0.0 == item }) { m[i].1 = .string(value) } else { m.append((item, .string(value))) }
        self[key] = .object(m)
    }
}

public enum ConfigInstruction: Sendable, Equatable {
    case cmd([String])
    case entrypoint([String])
    case env([(String, String)])
    case expose([String])
    case label([(String, String)])
    case user(String)
    case volume([String])
    case workdir(String)
    case stopSignal(String)

    public static let names = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL"]

    public static func == (a: ConfigInstruction, b: ConfigInstruction) -> Bool {
        switch (a, b) {
        case (.cmd(let x), .cmd(let y)), (.entrypoint(let x), .entrypoint(let y)), (.expose(let x), .expose(let y)),
            (.volume(let x), .volume(let y)):
            return x == y
        case (.env(let x), .env(let y)), (.label(let x), .label(let y)):
            return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        case (.user(let x), .user(let y)), (.workdir(let x), .workdir(let y)), (.stopSignal(let x), .stopSignal(let y)):
            return x == y
        default:
            return false
        }
    }

    /// Parses one instruction: `CMD ["sh"]`, `ENV A=1 B="two words"`, `EXPOSE 80/tcp`.
    public static func parse(_ text: String) throws(CommitError) -> ConfigInstruction {
        let trimmed = Substring(text).drop { $0 == " " || $0 == "\t" }
        let word = trimmed.prefix { $0 != " " && $0 != "\t" }
        let rest = String(trimmed.dropFirst(word.count).drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }.reversed())
        let name = word.uppercased()
        func need(_ what: String) throws(CommitError) {
            if rest.isEmpty { throw CommitError("invalid change \"\(text)\": \(name) requires \(what)") }
        }
        switch name {
        case "CMD":
            try need("a command")
            return .cmd(try commandForm(rest, text))
        case "ENTRYPOINT":
            try need("a command")
            return .entrypoint(try commandForm(rest, text))
        case "ENV":
            try need("KEY=VALUE")
            return .env(try pairs(rest, text, legacy: true))
        case "LABEL":
            try need("KEY=VALUE")
            return .label(try pairs(rest, text, legacy: false))
        case "EXPOSE":
            try need("a port")
            var ports: [String] = []
            for p in try words(rest, text) {
                let parts = p.split(separator: "/", maxSplits: 1).map(String.init)
                let proto = parts.count == 2 ? parts[1].lowercased() : "tcp"
                guard let first = parts.first, let n = Int(first), (1...65535).contains(n), ["tcp", "udp", "sctp"].contains(proto) else {
                    throw CommitError("invalid change \"\(text)\": invalid port \"\(p)\" (PORT or PORT/tcp, /udp, /sctp)")
                }
                ports.append("\(n)/\(proto)")
            }
            return .expose(ports)
        case "USER":
            try need("a user")
            return .user(rest)
        case "VOLUME":
            try need("a path")
            let list = rest.hasPrefix("[") ? try jsonStrings(rest, text) : try words(rest, text)
            guard !list.isEmpty, list.allSatisfy({ !$0.isEmpty }) else { throw CommitError("invalid change \"\(text)\": VOLUME requires a path") }
            return .volume(list)
        case "WORKDIR":
            try need("a path")
            return .workdir(rest)
        case "STOPSIGNAL":
            try need("a signal")
            return .stopSignal(rest)
        case "":
            throw CommitError("invalid change \"\(text)\": empty instruction")
        default:
            throw CommitError("invalid change \"\(text)\": \(word) is not one of \(names.joined(separator: ", "))")
        }
    }

    /// Applies the instruction to a config's run-time part.
    public func apply(to c: inout RunConfig) {
        switch self {
        case .cmd(let argv): c.setStrings("Cmd", argv)
        case .entrypoint(let argv):
            c.setStrings("Entrypoint", argv)
            // As in a Dockerfile, a new ENTRYPOINT drops the image's CMD.
            c.setStrings("Cmd", nil)
        case .env(let pairs): for (k, v) in pairs { c.setEnv(k, v) }
        case .label(let pairs): for (k, v) in pairs { c.setInObject("Labels", k, v) }
        case .expose(let ports): for p in ports { c.addToSet("ExposedPorts", p) }
        case .user(let u): c["User"] = .string(u)
        case .volume(let paths): for p in paths { c.addToSet("Volumes", p) }
        case .workdir(let dir):
            let base = c["WorkingDir"]?.string ?? ""
            c["WorkingDir"] = .string(Self.join(base.isEmpty ? "/" : base, dir))
        case .stopSignal(let s): c["StopSignal"] = .string(s)
        }
    }

    /// A WORKDIR relative to the one before, cleaned of "." and "..".
    static func join(_ base: String, _ dir: String) -> String {
        let full = dir.hasPrefix("/") ? dir : base + "/" + dir
        var parts: [Substring] = []
        for p in full.split(separator: "/") {
            if p == "." { continue }
            if p == ".." { _ = parts.popLast(); continue }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }

    // MARK: syntax

    /// The exec form (a JSON array of strings) or the shell form.
    static func commandForm(_ rest: String, _ text: String) throws(CommitError) -> [String] {
        if rest.hasPrefix("["), let list = try? jsonStrings(rest, text) { return list }
        return ["/bin/sh", "-c", rest]
    }

    static func jsonStrings(_ rest: String, _ text: String) throws(CommitError) -> [String] {
        guard let v = try? JSONReader.parse(rest), let a = v.array else {
            throw CommitError("invalid change \"\(text)\": not a JSON array of strings")
        }
        let list = a.compactMap(\.string)
        guard list.count == a.count else { throw CommitError("invalid change \"\(text)\": not a JSON array of strings") }
        return list
    }

    /// Words with shell-like quoting: "a b", 'a b', backslash escapes.
    static func words(_ s: String, _ text: String) throws(CommitError) -> [String] {
        guard let words = shellWords(s) else { throw CommitError("invalid change \"\(text)\": unterminated quote") }
        return words
    }

    /// Words with shell quoting: "a b", 'a b', `escape` before any character (outside
    /// single quotes); blanks and newlines separate words. Nil: a quote is left open.
    /// `commit -c` and the Dockerfile parser (chapter 10) split words with it.
    public static func shellWords(_ s: String, escape: Character = "\\") -> [String]? {
        var out: [String] = []
        var word = ""
        var inWord = false
        var quote: Character? = nil
        var escaped = false
        for c in s {
            if escaped {
                word.append(c)
                escaped = false
                continue
            }
            if c == escape && quote != "'" {
                escaped = true
                inWord = true
                continue
            }
            if let q = quote {
                if c == q { quote = nil } else { word.append(c) }
                continue
            }
            if c == "\"" || c == "'" {
                quote = c
                inWord = true
            } else if c == " " || c == "\t" || c == "\n" {
                if inWord { out.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(c)
                inWord = true
            }
        }
        if quote != nil { return nil }
        if inWord { out.append(word) }
        return out
    }

    /// KEY=VALUE pairs; with `legacy`, also `KEY VALUE…` (ENV's old form).
    static func pairs(_ rest: String, _ text: String, legacy: Bool) throws(CommitError) -> [(String, String)] {
        let first = rest.prefix { $0 != " " && $0 != "\t" }
        if legacy, !first.contains("=") {
            let value = rest.dropFirst(first.count).drop { $0 == " " || $0 == "\t" }
            guard !value.isEmpty else { throw CommitError("invalid change \"\(text)\": ENV \(first) needs a value") }
            return [(String(first), String(value))]
        }
        var out: [(String, String)] = []
        for w in try words(rest, text) {
            guard let eq = w.firstIndex(of: "="), eq != w.startIndex else {
                throw CommitError("invalid change \"\(text)\": \"\(w)\" is not KEY=VALUE")
            }
            out.append((String(w[..<eq]), String(w[w.index(after: eq)...])))
        }
        return out
    }
}
