// The completeness check of DESIGN.md: strace is the independent record of what a run
// asked of the kernel; every privileged call it saw must be in vitro's own trace.

import Foundation

struct StraceCall: Equatable, CustomStringConvertible {
    var pid: Int
    var name: String
    var args: [String]
    var ret: String

    var description: String { "\(pid) \(name)(\(args.joined(separator: ", "))) = \(ret)" }
}

enum StraceCheck {
    /// The calls the check covers: namespaces, mounts, pivot_root, hostname, exec, and
    /// the privileges of chapter 07 (capability drops, no_new_privs, the seccomp
    /// filter, rlimits, the user and groups).
    static let covered: Set<String> = [
        "unshare", "setns", "mount", "umount2", "pivot_root", "sethostname", "execve",
        "prctl", "seccomp", "prlimit64", "setresuid", "setresgid", "setgroups",
    ]

    /// Parses `strace -f -o FILE` output, joining `<unfinished ...>` with `<... resumed>`.
    static func parse(_ text: String) -> [StraceCall] {
        var unfinished: [Int: String] = [:]
        var calls: [StraceCall] = []
        for raw in text.split(separator: "\n") {
            var line = String(raw)
            let pidEnd = line.firstIndex(of: " ") ?? line.startIndex
            guard let pid = Int(line[..<pidEnd]) else { continue }
            line = String(line[pidEnd...]).trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("<unfinished ...>") {
                unfinished[pid] = String(line.dropLast("<unfinished ...>".count))
                continue
            }
            if line.hasPrefix("<... "), let close = line.range(of: " resumed>") {
                line = (unfinished.removeValue(forKey: pid) ?? "") + line[close.upperBound...]
            }
            // strace pads short calls: `pivot_root(".", ".")     = 0`.
            guard let open = line.firstIndex(of: "("),
                let eq = line.range(of: #"\)\s+= "#, options: [.regularExpression, .backwards])
            else { continue }
            let name = String(line[..<open])
            let argText = String(line[line.index(after: open)..<eq.lowerBound])
            let ret = String(line[eq.upperBound...].split(separator: " ").first ?? "")
            calls.append(StraceCall(pid: pid, name: name, args: splitArgs(argText), ret: ret))
        }
        return calls
    }

    /// Splits an argument list at top-level commas (not inside quotes, [], {}).
    static func splitArgs(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var depth = 0
        var quoted = false
        var escaped = false
        for c in s {
            if quoted {
                cur.append(c)
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { quoted = false }
                continue
            }
            switch c {
            case "\"": quoted = true; cur.append(c)
            case "[", "{": depth += 1; cur.append(c)
            case "]", "}": depth -= 1; cur.append(c)
            case "," where depth == 0:
                out.append(cur.trimmingCharacters(in: .whitespaces))
                cur = ""
            default: cur.append(c)
            }
        }
        if !cur.trimmingCharacters(in: .whitespaces).isEmpty { out.append(cur.trimmingCharacters(in: .whitespaces)) }
        return out
    }

    static func unquote(_ s: String) -> String {
        guard s.hasPrefix("\""), s.hasSuffix("\""), s.count >= 2 else { return s }
        return String(s.dropFirst().dropLast())
    }

    static func flagSet(_ s: String) -> Set<String> {
        Set(s.split(separator: "|").map(String.init).filter { $0 != "0" })
    }

    /// A comparable identity of a call: its name, object and flags.
    static func key(strace c: StraceCall) -> String? {
        switch c.name {
        case "unshare": return "unshare " + flagSet(c.args.first ?? "").sorted().joined(separator: "|")
        case "setns": return "setns " + (c.args.dropFirst().first ?? "")
        case "mount":
            guard c.args.count >= 4 else { return nil }
            return "mount \(unquote(c.args[1])) " + flagSet(c.args[3]).sorted().joined(separator: "|")
        case "umount2": return "umount2 \(unquote(c.args.first ?? ""))"
        case "pivot_root": return "pivot_root \(unquote(c.args.first ?? "")) \(unquote(c.args.dropFirst().first ?? ""))"
        case "sethostname": return "sethostname \(unquote(c.args.first ?? ""))"
        case "execve": return "execve \(unquote(c.args.first ?? ""))"
        // Only the privileged options (the Swift runtime and libc use others to ask).
        case "prctl":
            switch c.args.first {
            case "PR_CAPBSET_DROP": return "prctl PR_CAPBSET_DROP \(c.args.dropFirst().first ?? "")"
            case "PR_SET_NO_NEW_PRIVS": return "prctl PR_SET_NO_NEW_PRIVS"
            default: return nil
            }
        // Loading a filter; libseccomp's probes of the kernel's API are questions.
        case "seccomp":
            guard c.args.first == "SECCOMP_SET_MODE_FILTER", c.args.count >= 3,
                let len = c.args[2].split(separator: ",").first?.split(separator: "=").last
            else { return nil }
            return "seccomp SECCOMP_SET_MODE_FILTER \(len)"
        // Setting a limit (a NULL new limit only reads it).
        case "prlimit64":
            guard c.args.count >= 3, c.args[2] != "NULL" else { return nil }
            return "prlimit64 \(c.args[1])"
        case "setresuid", "setresgid": return "\(c.name) \(c.args.first ?? "")"
        case "setgroups": return "setgroups \(c.args.first ?? "")"
        default: return nil
        }
    }

    static func key(trace e: [String: Any]) -> String? {
        guard (e["ph"] as? String) == "X", let name = e["name"] as? String else { return nil }
        let args = e["args"] as? [String: Any] ?? [:]
        func s(_ k: String) -> String { args[k] as? String ?? "" }
        switch name {
        case "unshare": return "unshare " + flagSet(s("flags")).sorted().joined(separator: "|")
        case "setns": return "setns " + s("nstype")
        case "mount": return "mount \(s("target")) " + flagSet(s("flags")).sorted().joined(separator: "|")
        case "umount2": return "umount2 \(s("target"))"
        case "pivot_root": return "pivot_root \(s("new_root")) \(s("put_old"))"
        case "sethostname": return "sethostname \(s("name"))"
        case "execve": return "execve \(s("path"))"
        case "prctl":
            switch s("option") {
            case "PR_CAPBSET_DROP": return "prctl PR_CAPBSET_DROP \(s("cap"))"
            case "PR_SET_NO_NEW_PRIVS": return "prctl PR_SET_NO_NEW_PRIVS"
            default: return nil
            }
        case "seccomp": return "seccomp \(s("operation")) \(args["instructions"] as? Int ?? -1)"
        case "prlimit64": return "prlimit64 \(s("resource"))"
        case "setresuid": return "setresuid \(args["uid"] as? Int ?? -1)"
        case "setresgid": return "setresgid \(args["gid"] as? Int ?? -1)"
        case "setgroups": return "setgroups \((args["groups"] as? [Any])?.count ?? -1)"
        default: return nil
        }
    }

    /// The covered, successful calls strace saw that the trace does not have. The first
    /// execve (strace starting vitro itself) is not vitro's doing and is skipped.
    static func missing(strace: [StraceCall], trace: [[String: Any]]) -> [StraceCall] {
        var available: [String: Int] = [:]
        for e in trace { if let k = key(trace: e) { available[k, default: 0] += 1 } }
        var missing: [StraceCall] = []
        var sawFirstExec = false
        for c in strace where covered.contains(c.name) && c.ret != "-1" {
            if c.name == "execve" && !sawFirstExec {
                sawFirstExec = true
                continue
            }
            guard let k = key(strace: c) else { continue }
            if let n = available[k], n > 0 {
                available[k] = n - 1
            } else {
                missing.append(c)
            }
        }
        return missing
    }
}
