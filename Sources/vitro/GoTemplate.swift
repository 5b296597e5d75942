// The part of Go's text/template that people use with `docker inspect -f`: field paths
// (`{{.State.Pid}}`), `{{json .Config}}`, `{{index .Labels "key"}}`, `{{len .Mounts}}`,
// and literal text around them, evaluated over the inspect JSON.

import VitroTrace

struct TemplateError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

enum GoTemplate {
    static func render(_ template: String, _ data: JSONValue) throws -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstRange(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { throw TemplateError(message: "template: unclosed action") }
            var action = String(rest[open.upperBound..<close.lowerBound])
            action = action.trimmingCharacters(" -")
            out += try evaluate(action, data)
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    static func evaluate(_ action: String, _ data: JSONValue) throws -> String {
        let words = tokens(action)
        guard let head = words.first else { return "" }
        switch head {
        case "json":
            guard words.count == 2 else { throw TemplateError(message: "template: json takes one argument") }
            var w = JSONWriter()
            w.value(try lookup(words[1], data))
            return w.text
        case "index":
            guard words.count >= 3 else { throw TemplateError(message: "template: index takes a value and a key") }
            var v = try lookup(words[1], data)
            for key in words.dropFirst(2) {
                let k = key.hasPrefix("\"") ? String(key.dropFirst().dropLast()) : key
                if let i = Int(k), let a = v.array { v = i < a.count ? a[i] : .null } else { v = v[k] ?? .null }
            }
            return text(v)
        case "len":
            guard words.count == 2 else { throw TemplateError(message: "template: len takes one argument") }
            let v = try lookup(words[1], data)
            return String(v.array?.count ?? v.members?.count ?? v.string?.count ?? 0)
        default:
            guard words.count == 1 else { throw TemplateError(message: "template: function \"\(head)\" not defined") }
            return text(try lookup(head, data))
        }
    }

    static func tokens(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var quoted = false
        for c in s {
            if c == "\"" { quoted.toggle(); cur.append(c); continue }
            if c == " " && !quoted {
                if !cur.isEmpty { out.append(cur) }
                cur = ""
            } else {
                cur.append(c)
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    static func lookup(_ path: String, _ data: JSONValue) throws -> JSONValue {
        guard path.hasPrefix(".") else { throw TemplateError(message: "template: \"\(path)\" is not a field path") }
        var v = data
        for key in path.split(separator: ".") {
            guard let next = v[String(key)] else {
                throw TemplateError(message: "template: can't evaluate field \(key)")
            }
            v = next
        }
        return v
    }

    /// How Go prints a value with {{.X}}: strings bare, maps as map[k:v], lists as [a b].
    static func text(_ v: JSONValue) -> String {
        switch v {
        case .null: return "<no value>"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .string(let s): return s
        case .array(let a): return "[" + a.map(text).joined(separator: " ") + "]"
        case .object(let m): return "map[" + m.sorted { $0.0 < $1.0 }.map { "\($0.0):\(text($0.1))" }.joined(separator: " ") + "]"
        }
    }
}

extension String {
    func trimmingCharacters(_ set: String) -> String {
        String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }
}
