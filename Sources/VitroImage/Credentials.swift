// Chapter 01: where a user name and password come from.
//
// `--username/--password` win; otherwise Docker's config file, which `docker login`
// writes: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, with
//
//     {"auths": {"registry.example:5000": {"auth": "<base64 of user:password>"}}}
//
// Docker Hub's entry is keyed `https://index.docker.io/v1/` for historical reasons;
// other registries by host[:port], sometimes written as a URL. Credential helpers
// (`credsStore`, `credHelpers`) run other programs and are not supported.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct Credentials: Sendable, Equatable {
    public var username: String
    public var password: String
    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// The value of an `Authorization: Basic` header.
    var basicHeader: String { "Basic " + Base64.encode(Array((username + ":" + password).utf8)) }
}

public enum DockerConfig {
    /// The config file Docker would read, whether or not it exists.
    public static var defaultPath: String? {
        if let d = getenv("DOCKER_CONFIG"), d.pointee != 0 { return String(cString: d) + "/config.json" }
        if let h = getenv("HOME"), h.pointee != 0 { return String(cString: h) + "/.docker/config.json" }
        return nil
    }

    /// Credentials for `registry` (a reference's domain) from the file at `path`, or nil.
    public static func credentials(for registry: String, path: String? = defaultPath) -> Credentials? {
        guard let path, Sys.fileKind(path) == .regular, let bytes = try? Sys.readFile(path),
            let v = try? JSONReader.parse(bytes), let auths = v["auths"]?.members
        else { return nil }
        let wanted = registry == Reference.defaultDomain
            ? ["index.docker.io", "docker.io", "registry-1.docker.io"] : [registry]
        for (key, entry) in auths where wanted.contains(hostOf(key)) {
            if let auth = entry["auth"]?.string, let plain = Base64.decode(auth) {
                let text = String(decoding: plain, as: UTF8.self)
                if let colon = text.firstIndex(of: ":") {
                    return Credentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
                }
            }
            if let u = entry["username"]?.string, let p = entry["password"]?.string {
                return Credentials(username: u, password: p)
            }
        }
        return nil
    }

    /// `https://index.docker.io/v1/` → `index.docker.io`; `host:5000` stays.
    static func hostOf(_ key: String) -> String {
        var k = Substring(key)
        if let r = k.firstRange(of: "://") { k = k[r.upperBound...] }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        return String(k)
    }
}

// Chapter 11: `vitro login` and `logout` write the same file, as `docker login` does:
// other keys and other registries' entries are kept, the file is replaced whole (a
// temporary file renamed over it) and readable by its owner only (0600): it holds a
// password, merely base64-encoded.
extension DockerConfig {
    /// The key a registry's entry has: Docker Hub's historical URL, else host[:port].
    public static func key(for registry: String) -> String {
        registry == Reference.defaultDomain ? "https://index.docker.io/v1/" : registry
    }

    /// The file's bytes with `registry`'s entry set to `credentials` (nil: removed).
    /// The second value says whether an entry was there before.
    public static func updated(_ old: [UInt8]?, registry: String, credentials: Credentials?) throws -> ([UInt8], Bool) {
        var top: [(String, JSONValue)] = []
        if let old, !old.isEmpty {
            let v: JSONValue
            do { v = try JSONReader.parse(old) } catch { throw ImageError("docker config: invalid JSON: \(error)") }
            guard let m = v.members else { throw ImageError("docker config: not a JSON object") }
            top = m
        }
        var auths = top.first { $0.0 == "auths" }?.1.members ?? []
        let wanted = registry == Reference.defaultDomain ? ["index.docker.io", "docker.io", "registry-1.docker.io"] : [registry]
        let before = auths.count
        auths.removeAll { wanted.contains(hostOf($0.0)) }
        let existed = auths.count != before
        if let c = credentials {
            auths.append((key(for: registry), .object([("auth", .string(Base64.encode(Array((c.username + ":" + c.password).utf8))))])))
        }
        if let i = top.firstIndex(where: { $0.0 == "auths" }) {
            top[i].1 = .object(auths)
        } else {
            top.insert(("auths", .object(auths)), at: 0)
        }
        var w = JSONWriter()
        w.value(.object(top))
        return (w.bytes + [10], existed)
    }

    /// Stores (or, with nil, removes) a registry's credentials in the file at `path`.
    /// Returns whether an entry was there before.
    @discardableResult
    public static func store(_ credentials: Credentials?, for registry: String, path: String) throws -> Bool {
        let old: [UInt8]? = Sys.fileKind(path) == .regular ? try Sys.readFile(path) : nil
        if old == nil && credentials == nil { return false }
        let (bytes, existed) = try updated(old, registry: registry, credentials: credentials)
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            let dir = String(path[..<slash])
            if !Sys.isDirectory(dir) { try Sys.mkdirAll(dir, mode: 0o700, why: "the docker config's directory") }
        }
        try Sys.writeFileAtomically(path, bytes, mode: 0o600, why: credentials == nil ? "remove the registry's credentials" : "store the registry's credentials (base64 of user:password), readable by the owner only")
        return existed
    }
}
