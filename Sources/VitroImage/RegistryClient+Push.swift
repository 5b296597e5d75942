// Chapter 11: the writing half of the distribution API, behind `docker push`.
//
//     HEAD /v2/<name>/blobs/<digest>                     have you this blob? (200: skip it)
//     POST /v2/<name>/blobs/uploads/?mount=<d>&from=<r>  take it from another repository
//                                                        of yours (201: mounted)
//     POST /v2/<name>/blobs/uploads/                     start an upload (202, Location)
//     PUT  <Location>?digest=<d>                         the whole blob in one request (201)
//   or, for a blob bigger than the chunk size (a chunked upload):
//     PATCH <Location>  Content-Range: <from>-<to>       one chunk (202, a new Location
//                                                        and Range: 0-<to> received so far)
//     …                                                  each PATCH to the latest Location
//     PUT  <Location>?digest=<d>                         no body: the upload is complete (201)
//     PUT  /v2/<name>/manifests/<tag>                    the manifest, last (201)
//
// The token asked for is scoped `repository:<name>:pull,push`; a mount also needs
// `repository:<from>:pull`, which the registry names in its 401 when it wants it.

import VitroSys
import VitroTrace

extension RegistryClient {
    /// The Authorization value for pushing to `repository` (nil: none needed).
    func pushAuthorization(repository: String) throws -> String? {
        guard let c = challenge else { return nil }
        return try authorize(c, scope: "repository:\(repository):pull,push", fresh: false)
    }

    func pushExchange(_ method: String, url: String, repository: String, headers: [String] = [], why: String, bodyName: String? = nil) throws -> HTTPExchange {
        let x = HTTPExchange(HTTPRequest(method: method, url: url, headers: headers, authorization: try pushAuthorization(repository: repository), why: why, bodyName: bodyName))
        x.reauthorize = { [self] challenges in
            guard let c = challenges.first(where: { $0.scheme == "bearer" }) ?? challenges.first(where: { $0.scheme == "basic" }) else { return nil }
            if challenge == nil { challenge = c }
            return try authorize(c, scope: c.scope ?? "repository:\(repository):pull,push", fresh: true)
        }
        return x
    }

    /// HEAD of a blob: whether the repository has it already.
    public func hasBlob(repository: String, digest: Digest) throws -> Bool {
        let x = try pushExchange("HEAD", url: "\(base)/v2/\(repository)/blobs/\(digest)", repository: repository, why: "ask whether the repository has this blob already, so that it need not be sent")
        try http.perform(x)
        if let e = x.error { throw e }
        guard let r = x.response else { throw ImageError("blob \(digest): no answer") }
        if r.status == 401 || r.status == 403 { _ = try Self.success(x, what: "push to \(domain)/\(repository)") }
        return (200..<300).contains(r.status)
    }

    /// POST ?mount=&from=: true when the registry linked the blob from `from` (201);
    /// false when it did not (it then may have started an upload, which is left to expire).
    public func mountBlob(repository: String, digest: Digest, from: String) throws -> Bool {
        let url = "\(base)/v2/\(repository)/blobs/uploads/?mount=\(percentEncode(digest.description))&from=\(percentEncode(from))"
        let x = try pushExchange("POST", url: url, repository: repository, why: "ask the registry to link the blob from \(from), which has it, instead of uploading it again")
        try http.perform(x)
        if let e = x.error { throw e }
        return x.response?.status == 201
    }

    /// POST then PUT: one blob, `size` bytes from `open()`, in one request.
    public func uploadBlob(repository: String, digest: Digest, size: Int64, bodyName: String, open: @escaping () throws -> any ByteSource) throws {
        let what = "upload of blob \(digest)"
        let start = try pushExchange("POST", url: "\(base)/v2/\(repository)/blobs/uploads/", repository: repository, why: "start an upload: the registry answers with the URL to send the blob to")
        try http.perform(start)
        let r = try Self.success(start, what: what)
        guard let location = r.header("Location") else { throw ImageError("\(what): the registry gave no upload location") }
        var url = location.hasPrefix("/") ? base + location : location
        url += (url.contains("?") ? "&" : "?") + "digest=" + percentEncode(digest.description)
        let put = try pushExchange(
            "PUT", url: url, repository: repository, headers: ["Content-Type: application/octet-stream"],
            why: "send the whole blob in one request (monolithic upload); the registry checks it hashes to the digest", bodyName: bodyName)
        put.body = (size, open)
        try http.perform(put)
        _ = try Self.success(put, what: what)
    }

    /// POST, PATCH per chunk, then PUT: one blob in pieces of at most `chunkSize`
    /// bytes, each sent to the Location the registry gave for the one before (the
    /// distribution spec's chunked upload). A registry that has not received what it
    /// was sent (its Range says otherwise) fails the upload.
    public func uploadBlobChunked(
        repository: String, digest: Digest, size: Int64, chunkSize: Int, bodyName: String, open: () throws -> any ByteSource
    ) throws {
        let what = "upload of blob \(digest)"
        let start = try pushExchange("POST", url: "\(base)/v2/\(repository)/blobs/uploads/", repository: repository, why: "start a chunked upload: the registry answers with the URL to send the first chunk to")
        try http.perform(start)
        var location = try Self.uploadLocation(try Self.success(start, what: what), what: what, base: base)
        let source = try open()
        var chunk = [UInt8](repeating: 0, count: max(1, chunkSize))
        var offset: Int64 = 0
        var index = 0
        while offset < size {
            // Fill the chunk (a read may return less than asked).
            var filled = 0
            while filled < chunk.count, Int64(filled) < size - offset {
                let want = min(chunk.count - filled, Int(size - offset) - filled)
                let n = try chunk.withUnsafeMutableBytes { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled..<(filled + want)])) }
                if n == 0 { break }
                filled += n
            }
            guard filled > 0 else { throw ImageError("\(what): the blob ended after \(offset) of \(size) bytes") }
            let last = offset + Int64(filled) - 1
            index += 1
            let bytes = Array(chunk[0..<filled])
            let patch = try pushExchange(
                "PATCH", url: location, repository: repository,
                headers: ["Content-Type: application/octet-stream", "Content-Range: \(offset)-\(last)"],
                why: "send chunk \(index) (bytes \(offset)-\(last) of \(size)); the registry says where the next one goes",
                bodyName: "\(bodyName).part\(index)")
            patch.body = (Int64(filled), { MemorySource(bytes) })
            try http.perform(patch)
            let r = try Self.success(patch, what: what)
            if let range = r.header("Range"), let end = range.split(separator: "-").last.flatMap({ Int64($0) }), end != last {
                throw ImageError("\(what): the registry has bytes 0-\(end), sent 0-\(last)")
            }
            location = try Self.uploadLocation(r, what: what, base: base)
            offset = last + 1
        }
        let url = location + (location.contains("?") ? "&" : "?") + "digest=" + percentEncode(digest.description)
        let put = try pushExchange(
            "PUT", url: url, repository: repository,
            why: "close the chunked upload: the registry checks that the \(index) chunks hash to the digest")
        try http.perform(put)
        _ = try Self.success(put, what: what)
    }

    /// The absolute URL of an upload's Location header.
    static func uploadLocation(_ r: HTTPResponse, what: String, base: String) throws -> String {
        guard let location = r.header("Location") else { throw ImageError("\(what): the registry gave no upload location") }
        return location.hasPrefix("/") ? base + location : location
    }

    /// PUT of a manifest under a tag; the digest the registry gives it.
    public func putManifest(repository: String, reference: String, bytes: [UInt8], mediaType: String) throws -> Digest {
        let x = try pushExchange(
            "PUT", url: "\(base)/v2/\(repository)/manifests/\(reference)", repository: repository,
            headers: ["Content-Type: " + mediaType], why: "store the manifest under the tag, last: every blob it names is there now", bodyName: "manifest.json")
        x.body = (Int64(bytes.count), { MemorySource(bytes) })
        try http.perform(x)
        let r = try Self.success(x, what: "manifest for \(domain)/\(repository):\(reference)")
        let own = Digest.sha256(bytes)
        if let stated = r.header("Docker-Content-Digest").flatMap(Digest.init), stated != own {
            throw ImageError("manifest for \(repository):\(reference): the registry says \(stated), the bytes hash to \(own)")
        }
        return own
    }

    /// GET /v2/_catalog?n=: the repositories of a registry (those the user may see).
    public func catalog(limit: Int) throws -> [String] {
        let sink = BufferSink(limit: 4 << 20, what: "catalog of \(domain)")
        var auth: String?
        if let c = challenge { auth = try authorize(c, scope: "registry:catalog:*", fresh: false) }
        let x = HTTPExchange(HTTPRequest(url: "\(base)/v2/_catalog?n=\(limit)", authorization: auth, why: "list the registry's repositories"), sink: sink)
        x.reauthorize = { [self] challenges in
            guard let c = challenges.first(where: { $0.scheme == "bearer" }) ?? challenges.first(where: { $0.scheme == "basic" }) else { return nil }
            return try authorize(c, scope: c.scope ?? "registry:catalog:*", fresh: true)
        }
        try http.perform(x)
        _ = try Self.success(x, what: "catalog of \(domain)")
        let v: JSONValue
        do { v = try JSONReader.parse(sink.bytes) } catch { throw ImageError("catalog of \(domain): invalid JSON: \(error)") }
        return v["repositories"]?.array?.compactMap(\.string) ?? []
    }

    /// Checks the credentials: a ping, then (bearer) a token, or (basic) GET /v2/ with them.
    public func checkLogin() throws {
        try ping()
        guard let c = challenge else { return }
        switch c.scheme {
        case "basic":
            let x = HTTPExchange(HTTPRequest(url: base + "/v2/", authorization: try authorize(c, scope: "", fresh: true), why: "check the user name and password: GET /v2/ with basic auth"))
            try http.perform(x)
            if x.response?.status == 401 { throw ImageError("\(domain): unauthorized: incorrect username or password") }
            _ = try Self.success(x, what: "login to \(domain)")
        default:
            guard credentials != nil else { throw ImageError("\(domain): unauthorized: authentication required") }
            _ = try authorize(c, scope: "", fresh: true)
        }
    }
}
