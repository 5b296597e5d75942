// Chapters 01 and 02: what differs between two pulls and unpacks of the same image.
// A test registry listens on 127.0.0.1 with a port the kernel picked, and every
// snapshot is unpacked into `tmp-<pid>-<random>` before it is renamed to its chain ID.
// Both are replaced by placeholders (`127.0.0.1:<port>`, `tmp-<pid>-<rand>`); the
// digests themselves are 64 hex digits, which `replaceIDs` already handles.

import VitroTrace

extension TraceNormalizer {
    /// Replacements for the registry's loopback port(s) and the snapshot store's
    /// temporary directories, found in the trace's registry and layer events.
    static func imageReplacements(_ events: [TraceEvent]) -> [(String, String)] {
        var ports: [String] = []
        var temporaries: [String] = []
        for e in events {
            if e.group == .registry, let url = e.args["url"]?.text, let authority = loopbackAuthority(url),
                !ports.contains(authority)
            {
                ports.append(authority)
            }
            if e.group == .layer, e.name == "mkdir", let path = e.args["path"]?.text, let r = path.firstRange(of: "/snapshots/tmp-") {
                let name = "tmp-" + path[r.upperBound...].prefix { $0 != "/" }
                if !temporaries.contains(name) { temporaries.append(name) }
            }
        }
        var r: [(String, String)] = []
        for (i, authority) in ports.enumerated() {
            let host = authority[..<(authority.lastIndex(of: ":") ?? authority.endIndex)]
            r.append((authority, host + ":<port\(i == 0 ? "" : String(i + 1))>"))
        }
        for t in temporaries { r.append((t, "tmp-<pid>-<rand>")) }
        return r
    }

    /// `127.0.0.1:5000` of `http://127.0.0.1:5000/v2/`; nil for another host or no port.
    static func loopbackAuthority(_ url: String) -> String? {
        guard let scheme = url.firstRange(of: "://") else { return nil }
        let authority = url[scheme.upperBound...].prefix { $0 != "/" && $0 != "?" }
        guard let colon = authority.lastIndex(of: ":"), authority.index(after: colon) < authority.endIndex,
            authority[authority.index(after: colon)...].allSatisfy(\.isNumber)
        else { return nil }
        let host = authority[..<colon]
        guard host == "localhost" || host == "[::1]" || host.hasPrefix("127.") else { return nil }
        return String(authority)
    }
}
