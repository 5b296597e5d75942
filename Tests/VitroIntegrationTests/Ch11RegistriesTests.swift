// Chapter 11 against a real registry (distribution on 127.0.0.1): a committed image
// pushed, removed, pulled back and run; a second push finds every layer there; skopeo
// reads what vitro pushed; an htpasswd registry refuses a push until `vitro login`;
// a wrong password and an unknown image fail in one line and leave nothing behind.

import Foundation
import Testing

extension Integration {
    @Suite(.enabled(if: RegistryConditions.hasTools, "needs docker-registry, skopeo, apache2-utils (htpasswd), openssl, python3 and curl"))
    struct Ch11Registries {
        /// vitro in the sandbox, with a docker config of the sandbox's own (never the machine's).
        static func vitro(_ box: Sandbox, _ args: [String], input: String? = nil) throws -> Output {
            var env = box.env
            env["DOCKER_CONFIG"] = box.dir + "/docker"
            return try runProcess(Binaries.vitro, args, env: env, input: input, timeout: 180)
        }

        static func oneLine(_ o: Output) -> Bool {
            o.stderr.split(separator: "\n").count == 1 && o.stderr.hasPrefix("vitro: ")
        }

        @Test func committedImagePushedRemovedPulledAndRun() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                _ = try Ch09Commit.committed(box)
                let name = "\(registry.host)/team/app:v1"
                #expect(try box.vitro(["tag", "committed:1", name]).status == 0)
                // The base image first, to another repository: its layer is then mounted, not sent again.
                let baseName = "\(registry.host)/lib/base:1"
                #expect(try box.vitro(["tag", "base:1", baseName]).status == 0)
                let basePush = try Self.vitro(box, ["push", baseName])
                #expect(basePush.status == 0 && basePush.stdout.contains(": Pushed\n"), "\(basePush.stdout)\(basePush.stderr)")

                let push = try Self.vitro(box, ["push", name])
                #expect(push.status == 0, "\(push.stderr)")
                let lines = push.stdout.split(separator: "\n").map(String.init)
                #expect(lines.first == "The push refers to repository [\(registry.host)/team/app]", "\(push.stdout)")
                #expect(lines.filter { $0.hasSuffix(": Pushed") }.count == 1, "the committed layer: \(push.stdout)")
                #expect(lines.filter { $0.hasSuffix(": Mounted from lib/base") }.count == 1, "the base layer: \(push.stdout)")
                let last = try #require(lines.last)
                #expect(last.hasPrefix("v1: digest: sha256:") && last.contains(" size: "), "\(last)")
                let digest = String(last.split(separator: " ")[2])
                // Only compressed layers left the machine, and no temporary blob stayed.
                #expect(registry.requests(containing: "PUT /v2/team/app/blobs/uploads/").count == 2, "the committed layer and the config")
                Ch09Commit.storeIsClean(box)

                // skopeo reads what vitro pushed: the same digest, gzip layers.
                let inspect = try runProcess("/usr/bin/skopeo", ["inspect", "--tls-verify=false", "docker://\(name)"], timeout: 60)
                #expect(inspect.status == 0, "\(inspect.stderr)")
                let info = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
                #expect(info?["Digest"] as? String == digest)
                #expect((info?["Layers"] as? [String])?.count == 2)
                let raw = try runProcess("/usr/bin/skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(name)"], timeout: 60)
                #expect(raw.stdout.contains("application/vnd.oci.image.layer.v1.tar+gzip") && !raw.stdout.contains("layer.v1.tar\""), "\(raw.stdout)")

                // A second push: every layer is there already, the digest is the same.
                let again = try Self.vitro(box, ["push", name])
                #expect(again.status == 0, "\(again.stderr)")
                #expect(again.stdout.components(separatedBy: ": Layer already exists").count - 1 == 2, "\(again.stdout)")
                #expect(!again.stdout.contains(": Pushed"))
                #expect(again.stdout.hasSuffix("v1: digest: \(digest) size: \(last.split(separator: " ").last ?? "")\n"), "\(again.stdout)")

                // Search lists it from the catalog.
                let search = try Self.vitro(box, ["search", "\(registry.host)/app"])
                #expect(search.status == 0, "\(search.stderr)")
                #expect(search.stdout.hasPrefix("NAME") && search.stdout.contains("\(registry.host)/team/app "), "\(search.stdout)")

                // Gone from the machine, pulled back, run: the container's changes are there.
                #expect(try box.vitro(["rm", "c1"]).status == 0)
                #expect(try box.vitro(["rmi", name, baseName, "committed:1", "base:1"]).status == 0)
                #expect(try box.vitro(["images", "-q"]).stdout.isEmpty)
                let pull = try box.vitro(["pull", name])
                #expect(pull.status == 0, "\(pull.stderr)")
                #expect(pull.stdout.contains("Digest: \(digest)"), "\(pull.stdout)")
                let run = try box.vitro(["run", "--rm", name, "sh", "-c", Ch09Commit.probe])
                #expect(run.stdout == Ch09Commit.probeOutput, "\(run.stdout)\(run.stderr)")
                #expect(try box.vitro(["rmi", name]).status == 0)
            }
        }

        /// A chunked push (every layer above the chunk size goes up as PATCHes, then a
        /// PUT) of a pulled three-layer image, its layers side by side, to a second
        /// registry: the same manifest and layer digests as the original, and skopeo
        /// reads it.
        @Test(.enabled(if: Ch02Layers.hasPeers, "needs docker-registry, skopeo, zstd"))
        func chunkedParallelPushKeepsTheDigests() throws {
            try leavesNothing {
                let box = try Sandbox()
                let source = try TestRegistry()
                defer { source.stop() }
                let target = try TestRegistry()
                defer { target.stop() }
                let layout = try OCILayout(dir: box.dir + "/oci")
                let image = try layout.addLayeredImage(try Ch02Layers.makeLayers(box.dir))
                try layout.tag(manifest: image.manifest, size: image.size, as: "latest")
                try source.push(layout: layout.dir, tag: "latest", as: "layers:latest")
                let original = "\(source.host)/layers:latest"
                #expect(try box.vitro(["pull", original]).status == 0)
                let before = try runProcess("/usr/bin/skopeo", ["inspect", "--tls-verify=false", "docker://\(original)"], timeout: 60)
                let want = try JSONSerialization.jsonObject(with: Data(before.stdout.utf8)) as? [String: Any]

                let name = "\(target.host)/chunked:v1"
                #expect(try box.vitro(["tag", original, name]).status == 0)
                let chunk = 16384
                let push = try Self.vitro(box, ["push", "--chunk-size", String(chunk), name])
                #expect(push.status == 0, "\(push.stderr)")
                #expect(push.stdout.components(separatedBy: ": Pushed\n").count - 1 == 3, "\(push.stdout)")
                #expect(push.stdout.hasSuffix("v1: digest: \(image.manifest) size: \(image.size)\n"), "the manifest as pulled: \(push.stdout)")

                // Chunks: a PATCH per 16 KiB of every layer bigger than that, each to the
                // Location of the one before, and one closing PUT per layer.
                let patches = target.requests(containing: "PATCH /v2/chunked/blobs/uploads/")
                let layerSizes = (try JSONSerialization.jsonObject(with: Data(try String(contentsOfFile: box.root + "/blobs/sha256/" + String(image.manifest.dropFirst(7)), encoding: .utf8).utf8)) as? [String: Any])?["layers"] as? [[String: Any]] ?? []
                let big = layerSizes.compactMap { $0["size"] as? Int }.filter { $0 > chunk }
                #expect(!big.isEmpty, "a layer bigger than a chunk")
                #expect(patches.count == big.map { ($0 + chunk - 1) / chunk }.reduce(0, +), "\(patches.count) PATCHes for layers of \(big) bytes")
                #expect(target.requests(containing: "PUT /v2/chunked/blobs/uploads/").count == 4, "three layers and the config")

                let after = try runProcess("/usr/bin/skopeo", ["inspect", "--tls-verify=false", "docker://\(name)"], timeout: 60)
                #expect(after.status == 0, "\(after.stderr)")
                let got = try JSONSerialization.jsonObject(with: Data(after.stdout.utf8)) as? [String: Any]
                #expect(got?["Digest"] as? String == image.manifest)
                #expect((got?["Layers"] as? [String]) == (want?["Layers"] as? [String]) && (got?["Layers"] as? [String])?.count == 3)
                // skopeo copies it whole: every blob the registry assembled hashes right.
                let copy = try runProcess("/usr/bin/skopeo", ["copy", "--quiet", "--src-tls-verify=false", "docker://\(name)", "oci:\(box.dir)/copied:v1"], timeout: 60)
                #expect(copy.status == 0, "\(copy.stderr)")
            }
        }

        @Test func htpasswdRegistryWantsLoginAndBadInputFailsCleanly() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry(auth: .htpasswd(user: "alice", password: "s3cret"))
                defer { registry.stop() }
                try Ch09Commit.base(box)
                let name = "\(registry.host)/base:1"
                #expect(try box.vitro(["tag", "base:1", name]).status == 0)
                let config = box.dir + "/docker/config.json"

                // No login: refused, in one line, nothing stored.
                let refused = try Self.vitro(box, ["push", name])
                #expect(refused.status == 125 && Self.oneLine(refused), "\(refused.stderr)")
                #expect(refused.stderr.contains("unauthorized"), "\(refused.stderr)")
                Ch09Commit.storeIsClean(box)

                // A wrong password: refused, no config written.
                let wrong = try Self.vitro(box, ["login", "-u", "alice", "-p", "nope", registry.host])
                #expect(wrong.status == 125 && Self.oneLine(wrong), "\(wrong.stderr)")
                #expect(wrong.stderr.contains("incorrect username or password"), "\(wrong.stderr)")
                #expect(!FileManager.default.fileExists(atPath: config))

                // The right one, from stdin: stored as Docker stores it, readable by the owner only.
                let login = try Self.vitro(box, ["login", "-u", "alice", "--password-stdin", registry.host], input: "s3cret\n")
                #expect(login.status == 0 && login.stdout == "Login Succeeded\n", "\(login.stderr)")
                let attributes = try FileManager.default.attributesOfItem(atPath: config)
                #expect((attributes[.posixPermissions] as? Int) == 0o600)
                let stored = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: config))) as? [String: Any]
                let entry = (stored?["auths"] as? [String: Any])?[registry.host] as? [String: Any]
                #expect(entry?["auth"] as? String == Data("alice:s3cret".utf8).base64EncodedString())

                let push = try Self.vitro(box, ["push", name])
                #expect(push.status == 0, "\(push.stderr)")
                #expect(push.stdout.contains(": Pushed") && push.stdout.contains("1: digest: sha256:"), "\(push.stdout)")
                let inspect = try runProcess("/usr/bin/skopeo", ["inspect", "--tls-verify=false", "--creds", "alice:s3cret", "docker://\(name)"], timeout: 60)
                #expect(inspect.status == 0, "\(inspect.stderr)")

                // Logout: the entry goes; a push is refused again.
                let logout = try Self.vitro(box, ["logout", registry.host])
                #expect(logout.status == 0 && logout.stdout == "Removing login credentials for \(registry.host)\n", "\(logout.stdout)")
                #expect(try !String(contentsOfFile: config, encoding: .utf8).contains(registry.host))
                #expect(try Self.vitro(box, ["push", name]).status == 125)

                // Unknown and untagged images: Docker's message, nothing sent.
                let before = registry.requests(containing: "POST").count
                let unknown = try Self.vitro(box, ["push", "\(registry.host)/nothing:here"])
                #expect(unknown.status == 125 && Self.oneLine(unknown), "\(unknown.stderr)")
                #expect(unknown.stderr.contains("An image does not exist locally with the tag: \(registry.host)/nothing"), "\(unknown.stderr)")
                let untagged = try Self.vitro(box, ["push", "\(registry.host)/base"])
                #expect(untagged.status == 125 && Self.oneLine(untagged), "\(untagged.stderr)")
                #expect(registry.requests(containing: "POST").count == before)
                Ch09Commit.storeIsClean(box)
                #expect(try box.vitro(["rmi", name, "base:1"]).status == 0)
            }
        }
    }
}
