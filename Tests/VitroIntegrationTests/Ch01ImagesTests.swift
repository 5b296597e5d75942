// Chapter 01 against a real registry (distribution 2.8 on 127.0.0.1): anonymous,
// basic and bearer auth, a multi-platform index, a tampered blob, and ten pulls at once.
// Each test starts its own registry and stops it (and removes its directory) itself.

import Foundation
import Testing

extension Integration {
    @Suite(.enabled(if: RegistryConditions.hasTools, "needs docker-registry, skopeo, apache2-utils (htpasswd), openssl, python3 and curl"))
    struct Ch01Images {
        /// A registry with busybox:latest pushed into it; the layout's image for checks.
        func seeded(_ box: Sandbox, auth: TestRegistry.Auth = .none, credentials: String? = nil) throws -> (TestRegistry, OCILayout.Image) {
            let registry = try TestRegistry(auth: auth)
            let layout = try OCILayout(dir: box.dir + "/oci")
            let image = try layout.addImage(rootfs: box.rootfs, architecture: "amd64")
            try layout.tag(image, as: "latest")
            try registry.push(layout: layout.dir, tag: "latest", as: "busybox:latest", credentials: credentials)
            return (registry, image)
        }

        func lastLine(_ s: String) -> String { String(s.split(separator: "\n").last ?? "") }

        @Test func anonymousPullStoresVerifiedBlobsAndShowsTheImage() throws {
            try leavesNothing {
                let box = try Sandbox()
                let (registry, image) = try seeded(box)
                defer { registry.stop() }
                let name = "\(registry.host)/busybox"
                let trace = box.dir + "/pull.jsonl"
                let o = try box.vitro(["pull", "--trace", trace, name])
                #expect(o.status == 0, "\(o.stderr)")
                #expect(o.stderr.contains("Using default tag: latest"))
                #expect(o.stderr.contains("latest: Pulling from busybox"))
                #expect(o.stderr.contains("\(image.layerDigest.dropFirst(7).prefix(12)): Pull complete"))
                #expect(o.stdout == "Digest: \(image.manifestDigest)\nStatus: Downloaded newer image for \(name):latest\n\(name):latest\n")

                let store = StoreContents(root: box.root)
                #expect(store.blobs == [image.manifestDigest, image.configDigest, image.layerDigest].map { String($0.dropFirst(7)) }.sorted())
                #expect(try store.corruptBlobs().isEmpty)
                #expect(store.ingest.isEmpty)

                // Every HTTP request is an event of group registry with a curl line and a why.
                let events = try readTrace(trace).filter { $0["group"] as? String == "registry" && $0["ph"] as? String == "X" }
                let http = events.filter { ($0["name"] as? String) == "GET" }
                #expect(http.count == 4, "ping, manifest, config, layer")
                for e in http {
                    #expect((e["shell"] as? String)?.hasPrefix("curl -sS") == true)
                    #expect(e["why"] is String)
                    let args = e["args"] as? [String: Any]
                    #expect(args?["url"] is String && args?["status"] is Int && args?["bytes"] is Int)
                }
                #expect(http.contains { (($0["args"] as? [String: Any])?["bytes"] as? Int) == image.layerSize })

                let again = try box.vitro(["pull", name])
                #expect(again.status == 0)
                #expect(again.stdout.contains("Status: Image is up to date for \(name):latest"))

                let images = try box.vitro(["images"])
                let rows = images.stdout.split(separator: "\n")
                #expect(rows.first?.hasPrefix("REPOSITORY") == true && rows.first?.contains("IMAGE ID") == true)
                #expect(rows.count == 2 && rows[1].contains(name) && rows[1].contains(image.configDigest.dropFirst(7).prefix(12)))
                #expect(try box.vitro(["images", "-q"]).stdout == image.configDigest.dropFirst(7).prefix(12) + "\n")

                let inspect = try box.vitro(["inspect", name])
                #expect(inspect.status == 0)
                let json = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [[String: Any]]
                let first = json?.first
                #expect(first?["Id"] as? String == image.configDigest)
                #expect(first?["RepoTags"] as? [String] == ["\(name):latest"])
                #expect(first?["RepoDigests"] as? [String] == ["\(name)@\(image.manifestDigest)"])
                #expect((first?["Config"] as? [String: Any])?["Cmd"] as? [String] == ["sh"])
                #expect((first?["RootFS"] as? [String: Any])?["Layers"] as? [String] == [image.diffID])
                #expect(first?["Architecture"] as? String == "amd64")

                let history = try box.vitro(["history", name])
                #expect(history.stdout.split(separator: "\n").count == 3)

                #expect(try box.vitro(["tag", name, "mine:1"]).status == 0)
                let tagged = try JSONSerialization.jsonObject(with: Data(try box.vitro(["inspect", "mine:1"]).stdout.utf8)) as? [[String: Any]]
                #expect(tagged?.first?["RepoTags"] as? [String] == ["\(name):latest", "mine:1"])
                #expect(tagged?.first?["RepoDigests"] as? [String] == ["\(name)@\(image.manifestDigest)"], "no registry knows mine:1")
                let rmiTag = try box.vitro(["rmi", "mine:1"])
                #expect(rmiTag.stdout == "Untagged: mine:1\n")
                #expect(store.blobs.count == 3, "the image still has a name")
                let rmi = try box.vitro(["rmi", name])
                #expect(rmi.status == 0)
                #expect(rmi.stdout.contains("Deleted: \(image.configDigest)"))
                #expect(store.blobs.isEmpty, "no image refers to the blobs any more")
                #expect(try box.vitro(["images", "-q"]).stdout.isEmpty)
            }
        }

        /// Docker Hub names (`busybox`, `ubuntu:12.04`) through a registry mirror, the way
        /// a lab runs the tutorial's `docker pull ubuntu` offline. Only mirrors on
        /// 127.0.0.1 are named, and each test has the image in one of them, so no request
        /// ever goes on to Docker Hub.
        @Test func dockerHubNamesComeFromAMirror() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let layout = try OCILayout(dir: box.dir + "/oci")
                let image = try layout.addImage(rootfs: box.rootfs, architecture: "amd64")
                try layout.tag(image, as: "12.04")
                try registry.push(layout: layout.dir, tag: "12.04", as: "library/ubuntu:12.04")
                let mirror = "http://\(registry.host)"
                let nobody = "http://127.0.0.1:\(freeLoopbackPort())"
                let trace = box.dir + "/pull.jsonl"

                // The first mirror does not answer; the second has it.
                let o = try box.vitro(["pull", "--registry-mirror", nobody, "--registry-mirror", mirror, "--trace", trace, "ubuntu:12.04"])
                #expect(o.status == 0, "\(o.stderr)")
                #expect(o.stdout.contains("Digest: \(image.manifestDigest)"), "\(o.stdout)")
                #expect(o.stdout.contains("Downloaded newer image for ubuntu:12.04"), "\(o.stdout)")
                let notes = try readTrace(trace).filter { $0["name"] as? String == "mirror" }.compactMap { $0["args"] as? [String: Any] }
                #expect(notes.count == 2 && notes[0]["error"] != nil && notes[1]["error"] == nil, "\(notes)")
                let rows = try box.vitro(["images"]).stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ").prefix(2).joined(separator: ":") }
                #expect(rows == ["ubuntu:12.04"], "listed under its Docker Hub name")

                // From the environment, as a lab sets it once; and `run` pulls the same way.
                let other = box.root + "-2"
                defer { try? FileManager.default.removeItem(atPath: other) }
                let run = try runProcess(
                    Binaries.vitro, ["run", "--rm", "ubuntu:12.04", "/bin/echo", "hello world"],
                    env: ["VITRO_ROOT": other, "VITRO_NETWORK": "none", "VITRO_REGISTRY_MIRROR": mirror])
                #expect(run.status == 0 && run.stdout == "hello world\n", "\(run.stderr)")

                let bad = try box.vitro(["pull", "--registry-mirror", "ftp://mirror/path", "ubuntu:12.04"])
                #expect(bad.status == 125 && bad.stderr == "vitro: pull ubuntu:12.04: registry mirror \"ftp://mirror/path\": not an http:// or https:// URL\n", "\(bad.stderr)")
                let path = try box.vitro(["pull", "--registry-mirror", "http://127.0.0.1:5000/v2", "ubuntu:12.04"])
                #expect(path.status == 125 && path.stderr.contains("no path"), "\(path.stderr)")
            }
        }

        @Test func basicAuthWithFlagsOrDockerConfig() throws {
            try leavesNothing {
                let box = try Sandbox()
                let (registry, _) = try seeded(box, auth: .htpasswd(user: "alice", password: "s3cret"), credentials: "alice:s3cret")
                defer { registry.stop() }
                let name = "\(registry.host)/busybox:latest"
                let anonymous = try box.vitro(["pull", name])
                #expect(anonymous.status == 125)
                #expect(lastLine(anonymous.stderr).hasPrefix("vitro: pull \(name): "))
                #expect(anonymous.stderr.contains("unauthorized"))
                #expect(StoreContents(root: box.root).blobs.isEmpty)

                let wrong = try box.vitro(["pull", "--username", "alice", "--password", "nope", name])
                #expect(wrong.status == 125)

                let flags = try box.vitro(["pull", "--username", "alice", "--password", "s3cret", name])
                #expect(flags.status == 0, "\(flags.stderr)")

                // The same credentials from a Docker config file, as `docker login` leaves them.
                let config = box.dir + "/docker"
                try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
                let auth = Data("alice:s3cret".utf8).base64EncodedString()
                try #"{"auths":{"\#(registry.host)":{"auth":"\#(auth)"}}}"#.write(toFile: config + "/config.json", atomically: true, encoding: .utf8)
                let other = box.root + "-2"
                let fromFile = try runProcess(Binaries.vitro, ["pull", name], env: ["VITRO_ROOT": other, "DOCKER_CONFIG": config])
                try? FileManager.default.removeItem(atPath: other)
                #expect(fromFile.status == 0, "\(fromFile.stderr)")
            }
        }

        @Test func bearerTokenAuthWithCredentialsAndAnonymously() throws {
            try leavesNothing {
                let box = try Sandbox()
                // A token server that wants alice's password, and a registry that trusts it.
                let tokens = try TokenServer(user: "alice", password: "s3cret")
                defer { tokens.stop() }
                let (registry, image) = try seeded(box, auth: .token(tokens), credentials: "alice:s3cret")
                defer { registry.stop() }
                let name = "\(registry.host)/busybox:latest"
                try? FileManager.default.removeItem(atPath: tokens.requestLog)

                let anonymous = try box.vitro(["pull", name])
                #expect(anonymous.status == 125)
                #expect(lastLine(anonymous.stderr) == "vitro: pull \(name): \(registry.host): unauthorized: authentication required")

                let wrong = try box.vitro(["pull", "--username", "alice", "--password", "nope", name])
                #expect(lastLine(wrong.stderr) == "vitro: pull \(name): \(registry.host): unauthorized: incorrect username or password")

                try? FileManager.default.removeItem(atPath: tokens.requestLog)
                let trace = box.dir + "/bearer.jsonl"
                let o = try box.vitro(["pull", "--trace", trace, "--username", "alice", "--password", "s3cret", name])
                #expect(o.status == 0, "\(o.stderr)")
                #expect(o.stdout.contains("Digest: \(image.manifestDigest)"))
                // One token for the scope, cached for the manifest, config and layer requests.
                let asked = tokens.requests()
                #expect(asked.count == 1)
                #expect(asked.first?["scope"] == "repository:busybox:pull")
                #expect(asked.first?["service"] == tokens.service)
                #expect(asked.first?["user"] == "alice:s3cret")
                // The trace's curl lines carry no secret.
                let text = try String(contentsOfFile: trace, encoding: .utf8)
                #expect(!text.contains("s3cret"))
                #expect(!text.contains(Data("alice:s3cret".utf8).base64EncodedString()))
                #expect(text.contains("Authorization: Bearer $TOKEN"))

                // Anonymous tokens, sent as OAuth 2's access_token, from another token server.
                let open = try TokenServer(field: "access_token")
                defer { open.stop() }
                let openRegistry = try TestRegistry(auth: .token(open))
                defer { openRegistry.stop() }
                try openRegistry.push(layout: box.dir + "/oci", tag: "latest", as: "busybox:latest")
                try? FileManager.default.removeItem(atPath: open.requestLog)
                let other = box.root + "-2"
                let anon = try runProcess(Binaries.vitro, ["pull", "\(openRegistry.host)/busybox"], env: ["VITRO_ROOT": other])
                try? FileManager.default.removeItem(atPath: other)
                #expect(anon.status == 0, "\(anon.stderr)")
                #expect(open.requests().map { $0["user"] } == [""])
            }
        }

        @Test func multiPlatformIndexPicksAmd64UnlessAskedOtherwise() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let layout = try OCILayout(dir: box.dir + "/oci")
                let amd64 = try layout.addImage(rootfs: box.rootfs, architecture: "amd64", marker: "amd64")
                let arm64 = try layout.addImage(rootfs: box.rootfs, architecture: "arm64", marker: "arm64")
                let index = try layout.tagIndex([arm64, amd64], as: "multi")
                try registry.push(layout: layout.dir, tag: "multi", as: "multi:latest", all: true)
                let name = "\(registry.host)/multi:latest"

                let o = try box.vitro(["pull", name])
                #expect(o.status == 0, "\(o.stderr)")
                #expect(o.stdout.contains("Digest: \(index)"))
                let store = StoreContents(root: box.root)
                #expect(store.blobs.contains(String(amd64.layerDigest.dropFirst(7))))
                #expect(!store.blobs.contains(String(arm64.layerDigest.dropFirst(7))))
                let inspect = try JSONSerialization.jsonObject(with: Data(try box.vitro(["inspect", name]).stdout.utf8)) as? [[String: Any]]
                #expect(inspect?.first?["Architecture"] as? String == "amd64")
                #expect(inspect?.first?["Id"] as? String == amd64.configDigest)
                #expect(inspect?.first?["RepoDigests"] as? [String] == ["\(registry.host)/multi@\(index)"])

                let other = box.root + "-arm"
                defer { try? FileManager.default.removeItem(atPath: other) }
                let arm = try runProcess(Binaries.vitro, ["pull", "--platform", "linux/arm64", name], env: ["VITRO_ROOT": other])
                #expect(arm.status == 0, "\(arm.stderr)")
                #expect(StoreContents(root: other).blobs.contains(String(arm64.layerDigest.dropFirst(7))))
                let armInspect = try runProcess(Binaries.vitro, ["inspect", name], env: ["VITRO_ROOT": other])
                #expect(armInspect.stdout.contains("\"Architecture\": \"arm64\""))

                let none = try box.vitro(["pull", "--platform", "linux/s390x", name])
                #expect(none.status == 125)
                #expect(lastLine(none.stderr).contains("no matching manifest for linux/s390x"))
            }
        }

        @Test func aTamperedBlobFailsThePullAndLeavesTheStoreConsistent() throws {
            try leavesNothing {
                let box = try Sandbox()
                let (registry, image) = try seeded(box)
                defer { registry.stop() }
                let hex = String(image.layerDigest.dropFirst(7))
                let data = registry.blobData(hex)
                let original = try Data(contentsOf: URL(fileURLWithPath: data))
                var tampered = original
                tampered[tampered.count / 2] ^= 0xff
                try tampered.write(to: URL(fileURLWithPath: data))
                let badHex = try sha256Hex(data)
                let name = "\(registry.host)/busybox:latest"

                let o = try box.vitro(["pull", name])
                #expect(o.status == 125)
                #expect(lastLine(o.stderr) == "vitro: pull \(name): blob \(image.layerDigest): digest mismatch (got sha256:\(badHex))")
                let store = StoreContents(root: box.root)
                #expect(!store.blobs.contains(hex), "no unverified blob")
                #expect(!store.blobs.contains(badHex))
                #expect(store.ingest.isEmpty, "no partial download, no lock file")
                #expect(try store.corruptBlobs().isEmpty)
                #expect(!store.index.contains("busybox"), "no tag for an image that failed to pull")
                #expect(try box.vitro(["images", "-q"]).stdout.isEmpty)

                try original.write(to: URL(fileURLWithPath: data))
                let repaired = try box.vitro(["pull", name])
                #expect(repaired.status == 0, "\(repaired.stderr)")
                #expect(store.blobs.contains(hex))
                #expect(try store.corruptBlobs().isEmpty)
            }
        }

        @Test func tenConcurrentPullsStoreEachBlobOnce() throws {
            try leavesNothing {
                let box = try Sandbox()
                let (registry, image) = try seeded(box)
                defer { registry.stop() }
                let name = "\(registry.host)/busybox:latest"
                let results = LockedOutputs()
                let env = box.env
                DispatchQueue.concurrentPerform(iterations: 10) { _ in
                    results.append(try? runProcess(Binaries.vitro, ["pull", name], env: env, timeout: 120))
                }
                let outputs = results.all
                #expect(outputs.count == 10)
                for o in outputs { #expect(o?.status == 0, "\(o?.stderr ?? "did not run")") }
                let store = StoreContents(root: box.root)
                #expect(store.blobs == [image.manifestDigest, image.configDigest, image.layerDigest].map { String($0.dropFirst(7)) }.sorted())
                #expect(try store.corruptBlobs().isEmpty)
                #expect(store.ingest.isEmpty)
                #expect(store.index.components(separatedBy: "\"tag\":\"latest\"").count == 2, "one record: \(store.index)")
                // Each blob crossed the network once: a pull that found a layer's lock
                // held waited for it and then found the blob stored.
                #expect(registry.requests(containing: "GET /v2/busybox/blobs/\(image.layerDigest)").count == 1)
                #expect(registry.requests(containing: "GET /v2/busybox/blobs/\(image.configDigest)").count == 1)
            }
        }

        @Test func retriesAndRedirectsWithoutLeakingTheToken() throws {
            try leavesNothing {
                let box = try Sandbox()
                let layout = try OCILayout(dir: box.dir + "/oci")
                let image = try layout.addImage(rootfs: box.rootfs, architecture: "amd64")
                let fake = try FakeRegistry(layout: layout, image: image)
                defer { fake.stop() }
                let trace = box.dir + "/retry.jsonl"
                let o = try box.vitro(["pull", "--trace", trace, "\(fake.host)/x"])
                #expect(o.status == 0, "\(o.stderr)")
                #expect(try StoreContents(root: box.root).corruptBlobs().isEmpty)
                let requests = fake.requests()
                let statuses = requests.filter { ($0["path"] as? String) == "/v2/x/manifests/latest" }.map { $0["status"] as? Int }
                #expect(statuses == [503, 200], "the 503 is retried")
                let layer = requests.filter { ($0["path"] as? String)?.hasSuffix(image.layerDigest) == true }.map { $0["status"] as? Int }
                #expect(layer == [429, 307], "the 429 is retried, then redirected")
                let storage = requests.filter { $0["server"] as? String == "storage" }
                #expect(storage.count == 2, "config and layer come from storage")
                #expect(storage.allSatisfy { ($0["authorization"] as? String)?.isEmpty == true }, "no token for another host")
                #expect(requests.filter { $0["server"] as? String == "registry" && ($0["path"] as? String)?.hasPrefix("/v2/x/") == true }
                    .allSatisfy { $0["authorization"] as? String == "Bearer fake-token" })
                let whys = try readTrace(trace).compactMap { $0["why"] as? String }
                #expect(whys.contains { $0.contains("(retry 1 of 3: the registry answered 503") })
                #expect(whys.contains { $0.contains("redirected to another host: no Authorization header") })
            }
        }

        @Test func badReferencesAndMissingImagesSayOneLineAndLeaveNothing() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                for (word, message) in [
                    ("Busybox", "vitro: pull Busybox: invalid reference format: repository name (library/Busybox) must be lowercase\n"),
                    ("busybox:", "vitro: pull busybox:: invalid reference format\n"),
                    ("busybox@sha256:123", "vitro: pull busybox@sha256:123: invalid reference format\n"),
                ] {
                    let o = try box.vitro(["pull", word])
                    #expect(o.status == 125)
                    #expect(o.stderr == message)
                }
                let missing = try box.vitro(["pull", "\(registry.host)/nothing:here"])
                #expect(missing.status == 125)
                #expect(lastLine(missing.stderr) == "vitro: pull \(registry.host)/nothing:here: manifest for \(registry.host)/nothing:here not found: manifest unknown")
                #expect(!FileManager.default.fileExists(atPath: box.root), "a failed pull leaves no state behind")
                let rmi = try box.vitro(["rmi", "nothing"])
                #expect(rmi.stderr == "vitro: rmi nothing: No such image: nothing\n")
            }
        }
    }
}

/// Outputs gathered from concurrent threads.
final class LockedOutputs: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Output?] = []
    func append(_ o: Output?) { lock.withLock { items.append(o) } }
    var all: [Output?] { lock.withLock { items } }
}
