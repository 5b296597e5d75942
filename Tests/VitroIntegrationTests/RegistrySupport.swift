// A real registry for the chapter 01 tests: Debian's docker-registry (distribution 2.8)
// on 127.0.0.1 with a free port and a temporary storage directory, seeded with images
// built offline from a busybox-static rootfs and copied in with skopeo. Optionally with
// htpasswd basic auth, or with bearer tokens from a token server the test runs itself
// (a small Python program that signs RS256 JWTs with `openssl dgst`, using a key whose
// self-signed certificate is the registry's rootcertbundle). Everything listens on
// 127.0.0.1 only, and `stop()` ends the processes and removes the directory.

import Foundation
import Testing

enum RegistryConditions {
    static let hasTools = ["/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/htpasswd", "/usr/bin/openssl", "/usr/bin/python3", "/usr/bin/curl"]
        .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A port nobody listens on right now (the kernel picks it for a socket bound to port 0).
func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    _ = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func sha256Hex(_ path: String) throws -> String {
    let o = try runProcess("/usr/bin/sha256sum", [path])
    return String(o.stdout.prefix(64))
}

/// Starts a program in the background, its output into a file.
func startBackground(_ path: String, _ args: [String], log: String, env: [String: String] = [:]) throws -> Process {
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if !env.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    p.standardOutput = out
    p.standardError = out
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return p
}

/// SIGKILL, not SIGTERM: a child of the test runner may inherit a signal mask that
/// blocks SIGTERM (Python then never sees it), and these servers keep nothing worth
/// shutting down cleanly.
func stopBackground(_ p: Process?) {
    guard let p, p.isRunning else { return }
    kill(p.processIdentifier, SIGKILL)
    p.waitUntilExit()
}

final class TestRegistry {
    enum Auth {
        case none
        case htpasswd(user: String, password: String)
        case token(TokenServer)
    }

    let dir: String
    let port: Int
    private var process: Process?
    var host: String { "127.0.0.1:\(port)" }
    var storage: String { dir + "/data" }
    var log: String { dir + "/registry.log" }

    init(auth: Auth = .none) throws {
        dir = NSTemporaryDirectory() + "vitro-registry-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        port = freeLoopbackPort()
        var config = """
            version: 0.1
            log: {level: error}
            storage: {filesystem: {rootdirectory: \(dir)/data}, delete: {enabled: true}}
            http: {addr: 127.0.0.1:\(port)}

            """
        switch auth {
        case .none: break
        case .htpasswd(let user, let password):
            let o = try runProcess("/usr/bin/htpasswd", ["-Bbc", dir + "/htpasswd", user, password])
            guard o.status == 0 else { throw SandboxError(message: "htpasswd: \(o.stderr)") }
            config += "auth: {htpasswd: {realm: vitro-test, path: \(dir)/htpasswd}}\n"
        case .token(let t):
            config += """
                auth:
                  token:
                    realm: \(t.realm)
                    service: \(t.service)
                    issuer: \(t.issuer)
                    rootcertbundle: \(t.certificate)

                """
        }
        try config.write(toFile: dir + "/config.yml", atomically: true, encoding: .utf8)
        process = try startBackground("/usr/bin/docker-registry", ["serve", dir + "/config.yml"], log: log)
        try waitForHTTP("http://\(host)/v2/", what: "docker-registry")
    }

    /// Ends the registry and removes its directory.
    func stop() {
        stopBackground(process)
        process = nil
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }

    /// skopeo copy of an OCI layout's tag into this registry as NAME:TAG.
    func push(layout: String, tag: String, as name: String, all: Bool = false, credentials: String? = nil) throws {
        var args = ["copy", "--quiet", "--dest-tls-verify=false"]
        if all { args.append("--all") }
        if let credentials { args += ["--dest-creds", credentials] }
        args += ["oci:\(layout):\(tag)", "docker://\(host)/\(name)"]
        let o = try runProcess("/usr/bin/skopeo", args, timeout: 120)
        guard o.status == 0 else { throw SandboxError(message: "skopeo \(args): \(o.stderr)") }
    }

    /// Where the registry keeps a blob's bytes.
    func blobData(_ hex: String) -> String {
        "\(storage)/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    /// Requests in the registry's access log that contain `text`.
    func requests(containing text: String) -> [String] {
        let all = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return all.split(separator: "\n").map(String.init).filter { $0.contains(text) }
    }
}

/// Waits until a URL answers HTTP at all (any status), for up to 15 seconds.
func waitForHTTP(_ url: String, what: String) throws {
    for _ in 0..<150 {
        let o = try runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", url], timeout: 5)
        if o.stdout != "000" && !o.stdout.isEmpty { return }
        usleep(100_000)
    }
    throw SandboxError(message: "\(what) did not answer at \(url)")
}

/// A bearer token server: RS256 JWTs with `access` claims, as distribution 2.8 wants.
/// With a user, it refuses a request without that user's basic-auth credentials.
final class TokenServer {
    let dir: String
    let issuer = "vitro-test-issuer"
    let service = "vitro-test-registry"
    let port: Int
    /// `token` (Docker's field) or `access_token` (OAuth 2's).
    let field: String
    private var process: Process?
    var certificate: String { dir + "/cert.pem" }
    var realm: String { "http://127.0.0.1:\(port)/token" }
    var requestLog: String { dir + "/requests.jsonl" }

    static let program = #"""
        import base64, json, subprocess, sys, time, urllib.parse
        from http.server import BaseHTTPRequestHandler, HTTPServer
        key, cert, issuer, user, password, field, port, log = sys.argv[1:9]
        der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout
        def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                auth = self.headers.get("Authorization", "")
                who = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else ""
                with open(log, "a") as f:
                    f.write(json.dumps({"scope": q.get("scope", [""])[0], "service": q.get("service", [""])[0], "user": who}) + "\n")
                if user and who != user + ":" + password:
                    self.send_response(401); self.end_headers(); return
                access = []
                for s in q.get("scope", []):
                    t, name, actions = s.split(":")
                    access.append({"type": t, "name": name, "actions": actions.split(",")})
                now = int(time.time())
                header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
                claims = {"iss": issuer, "sub": who.split(":")[0], "aud": q.get("service", [""])[0],
                          "exp": now + 600, "nbf": now - 60, "iat": now, "jti": str(time.time_ns()), "access": access}
                signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
                sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                                     capture_output=True, check=True).stdout
                body = json.dumps({field: signing_input + "." + b64(sig), "expires_in": 600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        HTTPServer(("127.0.0.1", int(port)), H).serve_forever()
        """#

    init(user: String? = nil, password: String? = nil, field: String = "token") throws {
        dir = NSTemporaryDirectory() + "vitro-token-" + UUID().uuidString.prefix(8).lowercased()
        self.field = field
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let o = try runProcess("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
            "-days", "2", "-subj", "/CN=vitro-test-token-issuer",
        ])
        guard o.status == 0 else { throw SandboxError(message: "openssl req: \(o.stderr)") }
        try Self.program.write(toFile: dir + "/tokenserver.py", atomically: true, encoding: .utf8)
        port = freeLoopbackPort()
        process = try startBackground("/usr/bin/python3", [
            dir + "/tokenserver.py", dir + "/key.pem", dir + "/cert.pem", issuer, user ?? "", password ?? "", field,
            String(port), requestLog,
        ], log: dir + "/server.log")
        try waitForHTTP("http://127.0.0.1:\(port)/ping", what: "the token server")
        try? FileManager.default.removeItem(atPath: requestLog)
    }

    /// The token requests made so far: scope, service and the basic-auth user:password.
    func requests() -> [[String: String]] {
        let text = (try? String(contentsOfFile: requestLog, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
    }

    func stop() {
        stopBackground(process)
        process = nil
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }
}

/// Builds OCI image layouts by hand from a busybox rootfs: a gzipped tar layer, a
/// config, a manifest, and index.json, each blob filed under its sha256.
struct OCILayout {
    let dir: String

    struct Image {
        var manifestDigest: String
        var manifestSize: Int
        var configDigest: String
        var layerDigest: String
        var layerSize: Int
        var diffID: String
        var architecture: String
    }

    init(dir: String) throws {
        self.dir = dir
        try FileManager.default.createDirectory(atPath: dir + "/blobs/sha256", withIntermediateDirectories: true)
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: dir + "/oci-layout", atomically: true, encoding: .utf8)
    }

    /// Files a blob under its digest; returns (hex, size).
    @discardableResult
    func addBlob(_ data: Data) throws -> (String, Int) {
        let tmp = dir + "/blob.tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        let hex = try sha256Hex(tmp)
        try? FileManager.default.removeItem(atPath: dir + "/blobs/sha256/" + hex)
        try FileManager.default.moveItem(atPath: tmp, toPath: dir + "/blobs/sha256/" + hex)
        return (hex, data.count)
    }

    /// One image for one architecture, its layer the tar of `rootfs`. `marker` adds a
    /// file, so that images of different architectures differ in their layers.
    func addImage(
        rootfs: String, architecture: String, variant: String? = nil, marker: String? = nil, exposedPorts: [String] = [], volumes: [String] = [],
        cmd: [String] = ["sh"], workingDir: String = "/"
    ) throws -> Image {
        let work = dir + "/work-" + architecture
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        var tarArgs = ["-C", rootfs, "-cf", work + "/layer.tar", "."]
        if let marker {
            try marker.write(toFile: work + "/ARCH", atomically: true, encoding: .utf8)
            tarArgs = ["-cf", work + "/layer.tar", "-C", rootfs, ".", "-C", work, "ARCH"]
        }
        var o = try runProcess("/usr/bin/tar", tarArgs)
        guard o.status == 0 else { throw SandboxError(message: "tar: \(o.stderr)") }
        let diffID = try sha256Hex(work + "/layer.tar")
        o = try runProcess("/usr/bin/gzip", ["-n", work + "/layer.tar"])
        guard o.status == 0 else { throw SandboxError(message: "gzip: \(o.stderr)") }
        let (layerHex, layerSize) = try addBlob(try Data(contentsOf: URL(fileURLWithPath: work + "/layer.tar.gz")))
        let variantField = variant.map { #","variant":"\#($0)""# } ?? ""
        let exposedField = exposedPorts.isEmpty ? "" : #""ExposedPorts":{"# + exposedPorts.map { #""\#($0)":{}"# }.joined(separator: ",") + "},"
        let volumesField = volumes.isEmpty ? "" : #","Volumes":{"# + volumes.map { #""\#($0)":{}"# }.joined(separator: ",") + "}"
        let config = """
            {"created":"2024-05-01T12:00:00Z","architecture":"\(architecture)"\(variantField),"os":"linux",\
            "config":{\(exposedField)"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],\
            "Cmd":[\(cmd.map { "\"\($0)\"" }.joined(separator: ","))],"WorkingDir":"\(workingDir)","Labels":{"org.example.arch":"\(architecture)"}\(volumesField)},\
            "rootfs":{"type":"layers","diff_ids":["sha256:\(diffID)"]},\
            "history":[{"created":"2024-05-01T12:00:00Z","created_by":"/bin/sh -c #(nop) ADD file:busybox in / "},\
            {"created":"2024-05-01T12:00:00Z","created_by":"/bin/sh -c #(nop)  CMD [\\"sh\\"]","empty_layer":true}]}
            """
        let (configHex, configSize) = try addBlob(Data(config.utf8))
        let manifest = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\(configHex)","size":\(configSize)},\
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:\(layerHex)","size":\(layerSize)}]}
            """
        let (manifestHex, manifestSize) = try addBlob(Data(manifest.utf8))
        return Image(
            manifestDigest: "sha256:" + manifestHex, manifestSize: manifestSize, configDigest: "sha256:" + configHex,
            layerDigest: "sha256:" + layerHex, layerSize: layerSize, diffID: "sha256:" + diffID, architecture: architecture)
    }

    /// An image of several layers, bottom first, each an uncompressed tar compressed
    /// here with the tool named beside it (`gzip` or `zstd`). Returns the manifest's
    /// digest and size, and each layer's diffID.
    func addLayeredImage(_ layers: [(tar: String, compressor: String)], cmd: [String] = ["sh"]) throws -> (manifest: String, size: Int, diffIDs: [String]) {
        var descriptors: [String] = []
        var diffIDs: [String] = []
        for (tar, compressor) in layers {
            diffIDs.append("sha256:" + (try sha256Hex(tar)))
            let blob = tar + "." + compressor
            let o = try runProcess("/bin/sh", ["-c", "\(compressor == "zstd" ? "zstd -q -3 -c" : "gzip -n -c") '\(tar)' > '\(blob)'"])
            guard o.status == 0 else { throw SandboxError(message: "\(compressor): \(o.stderr)") }
            let (hex, size) = try addBlob(try Data(contentsOf: URL(fileURLWithPath: blob)))
            try? FileManager.default.removeItem(atPath: blob)
            descriptors.append(#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+\#(compressor)","digest":"sha256:\#(hex)","size":\#(size)}"#)
        }
        let cmdJSON = cmd.map { #""\#($0)""# }.joined(separator: ",")
        let history = layers.indices.map { #"{"created":"2024-05-01T12:00:00Z","created_by":"layer \#($0 + 1)"}"# }.joined(separator: ",")
        let config = #"{"created":"2024-05-01T12:00:00Z","architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":[\#(cmdJSON)]},"rootfs":{"type":"layers","diff_ids":[\#(diffIDs.map { "\"\($0)\"" }.joined(separator: ","))]},"history":[\#(history)]}"#
        let (configHex, configSize) = try addBlob(Data(config.utf8))
        let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:\#(configHex)","size":\#(configSize)},"layers":[\#(descriptors.joined(separator: ","))]}"#
        let (manifestHex, manifestSize) = try addBlob(Data(manifest.utf8))
        return ("sha256:" + manifestHex, manifestSize, diffIDs)
    }

    /// index.json naming one manifest by tag.
    func tag(manifest digest: String, size: Int, as tag: String) throws {
        try writeIndex(entries: [("application/vnd.oci.image.manifest.v1+json", digest, size, tag)])
    }

    /// index.json naming one image by tag.
    func tag(_ image: Image, as tag: String) throws {
        try writeIndex(entries: [(
            "application/vnd.oci.image.manifest.v1+json", image.manifestDigest, image.manifestSize, tag
        )])
    }

    /// index.json naming several images, each by its tag.
    func tag(_ images: [(Image, String)]) throws {
        try writeIndex(entries: images.map { ("application/vnd.oci.image.manifest.v1+json", $0.0.manifestDigest, $0.0.manifestSize, $0.1) })
    }

    /// A multi-platform image: an image index blob of the images, named by tag.
    /// Returns the index's digest.
    @discardableResult
    func tagIndex(_ images: [Image], as tag: String) throws -> String {
        let entries = images.map { i in
            #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(i.manifestDigest)","size":\#(i.manifestSize),"platform":{"architecture":"\#(i.architecture)","os":"linux"}}"#
        }
        let index = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(entries.joined(separator: ","))]}"#
        let (hex, size) = try addBlob(Data(index.utf8))
        try writeIndex(entries: [("application/vnd.oci.image.index.v1+json", "sha256:" + hex, size, tag)])
        return "sha256:" + hex
    }

    private func writeIndex(entries: [(String, String, Int, String)]) throws {
        let list = entries.map { e in
            #"{"mediaType":"\#(e.0)","digest":"\#(e.1)","size":\#(e.2),"annotations":{"org.opencontainers.image.ref.name":"\#(e.3)"}}"#
        }
        try #"{"schemaVersion":2,"manifests":[\#(list.joined(separator: ","))]}"#.write(toFile: dir + "/index.json", atomically: true, encoding: .utf8)
    }
}

/// What a vitro state root holds, for checking that a store is consistent.
struct StoreContents {
    let root: String
    var blobs: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: root + "/blobs/sha256")) ?? []).sorted() }
    var ingest: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: root + "/ingest")) ?? []).sorted() }
    var index: String { (try? String(contentsOfFile: root + "/images/index.json", encoding: .utf8)) ?? "" }

    /// Blobs whose bytes do not hash to their name (none, in a consistent store).
    func corruptBlobs() throws -> [String] {
        try blobs.filter { try sha256Hex(root + "/blobs/sha256/" + $0) != $0 }
    }
}

/// A scripted registry for what a real one will not do on demand: it answers the first
/// manifest request with 503 and the first layer request with 429, and redirects blob
/// requests to a "storage" server on another port, which records whether the
/// Authorization header came along. Bearer auth with a fixed token. It serves the
/// blobs of an OCI layout's image.
final class FakeRegistry {
    let dir: String
    let port: Int
    let storagePort: Int
    private var process: Process?
    var host: String { "127.0.0.1:\(port)" }
    var requestLog: String { dir + "/requests.jsonl" }

    static let program = #"""
        import json, sys, threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        blobs, manifest, port, storage_port, log = sys.argv[1:6]
        counts = {}
        def note(server, handler, status):
            with open(log, "a") as f:
                f.write(json.dumps({"server": server, "path": handler.path, "status": status,
                                    "authorization": handler.headers.get("Authorization", "")}) + "\n")
        class Registry(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def send(self, status, body=b"", headers={}):
                note("registry", self, status)
                self.send_response(status)
                for k, v in headers.items(): self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self):
                key = self.path.split("/")[-2] if "/v2/x/" in self.path else self.path
                counts[key] = counts.get(key, 0) + 1
                if self.path.startswith("/token"):
                    return self.send(200, b'{"token": "fake-token"}')
                if self.headers.get("Authorization") != "Bearer fake-token":
                    return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                        {"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:%s/token",service="fake"' % port})
                if self.path == "/v2/":
                    return self.send(200, b"{}")
                if self.path == "/v2/x/manifests/latest":
                    if counts[key] == 1:
                        return self.send(503)
                    body = open(blobs + "/" + manifest, "rb").read()
                    return self.send(200, body, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                                                 "Docker-Content-Digest": "sha256:" + manifest})
                if self.path.startswith("/v2/x/blobs/sha256:"):
                    hexd = self.path.split(":")[-1]
                    if counts.setdefault("blob-" + hexd, 0) == 0 and hexd == sys.argv[6]:
                        counts["blob-" + hexd] = 1
                        return self.send(429, b"", {"Retry-After": "0"})
                    return self.send(307, b"", {"Location": "http://127.0.0.1:%s/storage/%s?signature=abc" % (storage_port, hexd)})
                self.send(404)
        class Storage(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                hexd = self.path.split("/")[-1].split("?")[0]
                body = open(blobs + "/" + hexd, "rb").read()
                note("storage", self, 200)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        storage = ThreadingHTTPServer(("127.0.0.1", int(storage_port)), Storage)
        threading.Thread(target=storage.serve_forever, daemon=True).start()
        ThreadingHTTPServer(("127.0.0.1", int(port)), Registry).serve_forever()
        """#

    /// Serves `image` from the layout; the layer's first request gets a 429.
    init(layout: OCILayout, image: OCILayout.Image) throws {
        dir = NSTemporaryDirectory() + "vitro-fake-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.program.write(toFile: dir + "/fake.py", atomically: true, encoding: .utf8)
        port = freeLoopbackPort()
        storagePort = freeLoopbackPort()
        process = try startBackground("/usr/bin/python3", [
            dir + "/fake.py", layout.dir + "/blobs/sha256", String(image.manifestDigest.dropFirst(7)), String(port),
            String(storagePort), requestLog, String(image.layerDigest.dropFirst(7)),
        ], log: dir + "/server.log")
        try waitForHTTP("http://\(host)/v2/", what: "the fake registry")
        try? FileManager.default.removeItem(atPath: requestLog)
    }

    func requests() -> [[String: Any]] {
        let text = (try? String(contentsOfFile: requestLog, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func stop() {
        stopBackground(process)
        process = nil
        try? FileManager.default.removeItem(atPath: dir)
    }

    deinit { stop() }
}
