// Chapter 01: the distribution API, the HTTP conversation behind `docker pull`.
//
//     GET /v2/                              are you a registry, and how do I log in?
//     GET <realm>?service=…&scope=…         (bearer auth) a token for this repository
//     HEAD/GET /v2/<name>/manifests/<ref>   the manifest (or index) for a tag or digest
//     GET /v2/<name>/blobs/<digest>         a config or layer, often via a redirect
//
// The ping's 401 carries the challenge (AuthChallenge). For Bearer, the client asks the
// realm for a token scoped `repository:<name>:pull`, anonymously or with the user's
// name and password as Basic auth, and caches it per scope; for Basic it sends the
// credentials with each request. A registry on a loopback address, `localhost`, or
// named with `--insecure-registry` is spoken to over plain HTTP, as Docker does; every
// other one over HTTPS.
//
// Manifests are checked here: their bytes must hash to the digest asked for, or to the
// one the registry states in Docker-Content-Digest. Blobs are checked as they are
// written (BlobWriter).

import VitroSys
import VitroTrace

public final class RegistryClient {
    /// The reference's domain (`docker.io`, `127.0.0.1:5000`).
    public let domain: String
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    public let base: String
    public let http = HTTPClient()
    let credentials: Credentials?
    /// What the ping's 401 asked for; nil when the registry wants no credentials.
    var challenge: AuthChallenge?
    /// Authorization values by realm, service and scope.
    var tokens: [String: String] = [:]

    static let manifestLimit = 4 << 20

    public init(domain: String, insecureRegistries: [String] = [], credentials: Credentials? = nil) {
        self.domain = domain
        self.credentials = credentials
        base = Self.endpoint(for: domain, insecureRegistries: insecureRegistries)
    }

    /// The URL prefix for a registry: Docker Hub's API host is not its name, and only
    /// loopback and registries the user calls insecure are reached over plain HTTP.
    public static func endpoint(for domain: String, insecureRegistries: [String]) -> String {
        if domain == Reference.defaultDomain { return "https://registry-1.docker.io" }
        let host = hostPart(of: domain)
        let plain = host == "localhost" || host.hasPrefix("127.") || host == "[::1]" || host == "::1"
            || insecureRegistries.contains(domain) || insecureRegistries.contains(host)
        return (plain ? "http://" : "https://") + domain
    }

    /// `127.0.0.1:5000` → `127.0.0.1`; `[::1]:5000` → `[::1]`.
    static func hostPart(of domain: String) -> String {
        if domain.hasPrefix("["), let close = domain.firstIndex(of: "]") { return String(domain[...close]) }
        return String(domain.split(separator: ":", maxSplits: 1).first ?? "")
    }

    // MARK: ping and auth

    /// GET /v2/: 200 means no credentials are needed, 401 says how to get them.
    public func ping() throws {
        let x = HTTPExchange(HTTPRequest(url: base + "/v2/", why: "ask whether this is a registry (distribution API v2) and how it wants clients to authenticate"))
        try http.perform(x)
        guard let r = x.response else { throw x.error ?? ImageError("\(domain): no answer") }
        switch r.status {
        case 200..<300:
            challenge = nil
        case 401:
            let all = r.allHeaders("WWW-Authenticate").flatMap(AuthChallenge.parse)
            challenge = all.first { $0.scheme == "bearer" } ?? all.first { $0.scheme == "basic" }
            guard challenge != nil else { throw ImageError("\(domain): the registry wants an authentication scheme vitro does not speak") }
        default:
            throw ImageError("\(domain): not a registry (GET /v2/ answered \(r.status))")
        }
    }

    /// The Authorization value for pulling from `repository` (nil: none needed).
    func authorization(repository: String) throws -> String? {
        guard let c = challenge else { return nil }
        return try authorize(c, scope: "repository:\(repository):pull", fresh: false)
    }

    func authorize(_ c: AuthChallenge, scope: String, fresh: Bool) throws -> String? {
        switch c.scheme {
        case "basic":
            guard let credentials else {
                throw ImageError("\(domain): unauthorized: authentication required (the registry uses basic auth; give --username and --password, or vitro login)")
            }
            return credentials.basicHeader
        case "bearer":
            guard let realm = c.realm else { throw ImageError("\(domain): bearer challenge without a realm") }
            let key = realm + " " + (c.service ?? "") + " " + scope
            if !fresh, let t = tokens[key] { return t }
            let t = try fetchToken(realm: realm, service: c.service, scope: scope)
            tokens[key] = t
            return t
        default:
            return nil
        }
    }

    /// GET realm?service=…&scope=…: a token server answers {"token": …} (Docker) or
    /// {"access_token": …} (OAuth 2); either is sent as `Authorization: Bearer`.
    func fetchToken(realm: String, service: String?, scope: String) throws -> String {
        var query: [String] = []
        if let service { query.append("service=" + percentEncode(service)) }
        query.append("scope=" + percentEncode(scope))
        let url = realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&")
        let why = credentials == nil
            ? "ask the token server for an anonymous token for \(scope)"
            : "ask the token server for a token for \(scope), proving who we are with basic auth"
        let sink = BufferSink(limit: 1 << 20, what: "token from \(realm)")
        let x = HTTPExchange(HTTPRequest(url: url, authorization: credentials?.basicHeader, why: why), sink: sink)
        try http.perform(x)
        guard let r = x.response else { throw ImageError("\(domain): token server \(realm): \(x.error.map { String(describing: $0) } ?? "no answer")") }
        guard (200..<300).contains(r.status) else {
            if r.status == 401 || r.status == 403 {
                throw ImageError(credentials == nil
                    ? "\(domain): unauthorized: authentication required"
                    : "\(domain): unauthorized: incorrect username or password")
            }
            throw ImageError("\(domain): token server \(realm) answered \(r.status)\(Self.errorText(r.errorBody))")
        }
        let v: JSONValue
        do { v = try JSONReader.parse(sink.bytes) } catch { throw ImageError("\(domain): token server sent invalid JSON: \(error)") }
        guard let token = v["token"]?.string ?? v["access_token"]?.string, !token.isEmpty else {
            throw ImageError("\(domain): token server sent no token")
        }
        return "Bearer " + token
    }

    /// The handler an exchange calls on a 401: a fresh token for the scope the
    /// registry names in its challenge (it may differ from the one we asked for).
    func reauthorizer(repository: String) -> ([AuthChallenge]) throws -> String? {
        { [self] challenges in
            guard let c = challenges.first(where: { $0.scheme == "bearer" }) ?? challenges.first(where: { $0.scheme == "basic" }) else {
                return nil
            }
            if challenge == nil { challenge = c }
            return try authorize(c, scope: c.scope ?? "repository:\(repository):pull", fresh: true)
        }
    }

    // MARK: manifests

    public struct FetchedManifest: Sendable {
        public var bytes: [UInt8]
        public var digest: Digest
        public var mediaType: String
        public var document: ManifestDocument
        public var descriptor: Descriptor { Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count)) }
    }

    func manifestRequest(_ method: String, repository: String, reference: String, why: String) throws -> HTTPExchange {
        let request = HTTPRequest(
            method: method, url: "\(base)/v2/\(repository)/manifests/\(reference)",
            headers: ["Accept: " + MediaType.acceptedManifests.joined(separator: ", ")],
            authorization: try authorization(repository: repository), why: why)
        let x = HTTPExchange(request, sink: method == "GET" ? BufferSink(limit: Self.manifestLimit, what: "manifest \(reference)") : nil)
        x.reauthorize = reauthorizer(repository: repository)
        return x
    }

    /// HEAD of a manifest: the digest the registry has for a tag now (nil if it does
    /// not say), so a pull can tell an image is up to date without downloading it.
    public func headManifest(repository: String, tag: String) throws -> Digest? {
        let x = try manifestRequest("HEAD", repository: repository, reference: tag, why: "ask which manifest the tag points at now, without downloading it")
        try http.perform(x)
        guard let r = x.response, (200..<300).contains(r.status) else { return nil }
        return r.header("Docker-Content-Digest").flatMap(Digest.init)
    }

    /// GET of a manifest or index by tag or digest, verified. `expected` (from an index)
    /// pins digest and size.
    /// `name` is how messages call the image (`busybox:latest`).
    public func fetchManifest(repository: String, reference: String, name: String, expected: Descriptor? = nil, why: String) throws -> FetchedManifest {
        let x = try manifestRequest("GET", repository: repository, reference: reference, why: why)
        try http.perform(x)
        let r = try Self.success(x, what: "manifest for \(name)")
        let bytes = (x.sink as? BufferSink)?.bytes ?? []
        let got = Digest.sha256(bytes)
        if let want = expected?.digest ?? Digest(reference), got != want {
            throw ImageError("manifest \(want): digest mismatch (got \(got))")
        }
        if let stated = r.header("Docker-Content-Digest").flatMap(Digest.init), stated != got {
            throw ImageError("manifest for \(name): digest mismatch (registry says \(stated), got \(got))")
        }
        if let size = expected?.size, size != Int64(bytes.count) {
            throw ImageError("manifest \(got): size mismatch (got \(bytes.count) bytes, expected \(size))")
        }
        let contentType = r.header("Content-Type")
        let document = try ManifestDocument.parse(bytes, contentType: contentType)
        let type: String
        switch document {
        case .manifest(let m): type = m.mediaType
        case .index(let i): type = i.mediaType
        }
        return FetchedManifest(bytes: bytes, digest: got, mediaType: type, document: document)
    }

    // MARK: blobs

    /// An exchange that streams one blob into `writer` (run it with `http.perform`).
    public func blobExchange(repository: String, writer: BlobWriter, why: String) throws -> HTTPExchange {
        let d = writer.descriptor.digest
        let request = HTTPRequest(url: "\(base)/v2/\(repository)/blobs/\(d)", authorization: try authorization(repository: repository), why: why)
        let x = HTTPExchange(request, sink: writer)
        x.reauthorize = reauthorizer(repository: repository)
        return x
    }

    /// The response of a finished exchange when it is a success; else the error.
    static func success(_ x: HTTPExchange, what: String) throws -> HTTPResponse {
        if let e = x.error { throw e }
        guard let r = x.response else { throw ImageError("\(what): no answer") }
        guard (200..<300).contains(r.status) else {
            switch r.status {
            case 401, 403: throw ImageError("\(what): unauthorized: authentication required\(errorText(r.errorBody))")
            case 404: throw ImageError("\(what) not found\(errorText(r.errorBody))")
            default: throw ImageError("\(what): the registry answered \(r.status)\(errorText(r.errorBody))")
            }
        }
        return r
    }

    /// `: manifest unknown` from a distribution error document, or nothing.
    static func errorText(_ body: [UInt8]) -> String {
        guard let v = try? JSONReader.parse(body), let errors = v["errors"]?.array, !errors.isEmpty else { return "" }
        let messages = errors.compactMap { $0["message"]?.string ?? $0["code"]?.string?.lowercased() }
        return messages.isEmpty ? "" : ": " + messages.joined(separator: "; ")
    }
}
