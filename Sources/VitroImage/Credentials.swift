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
