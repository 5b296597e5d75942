// Chapter 09 as root: a container that adds, changes and deletes files (a whole
// directory too, and one deleted and made again); `diff` lists exactly those; `commit`
// makes an image whose layer holds exactly the upper directory in OCI form, and which,
// run again, shows the changes and the deletions without unpacking anything; export and
// import, save and load round trips; skopeo and umoci read vitro's OCI archives; and,
// where Docker's daemon can run, `docker load` takes what `vitro save` writes and
// `vitro load` takes what `docker save` writes. Bad input leaves nothing behind.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch09Commit {
        /// The container's script: one of each kind of change.
        static let changes = """
            echo new > /added; echo changed >> /etc/motd; rm /etc/group; rm -rf /data; \
            rm -rf /keep && mkdir /keep && echo fresh > /keep/fresh; mkdir -p /made/deep && echo d > /made/deep/f
            """
        /// What `diff` says about it, in walk order (parents before children, names in byte order).
        static let expectedDiff = [
            "A /added", "D /data", "C /etc", "D /etc/group", "C /etc/motd", "D /keep", "A /keep/fresh", "A /made", "A /made/deep", "A /made/deep/f",
        ]

        @discardableResult
        static func sh(_ script: String) throws -> String {
            let o = try runProcess("/bin/sh", ["-c", "set -e\n" + script], timeout: 120)
            guard o.status == 0 else { throw SandboxError(message: "sh failed (\(o.status)): \(o.stderr)\n\(script)") }
            return o.stdout
        }

        /// A base image `base:1` in the sandbox: the busybox rootfs plus /etc/motd, a
        /// directory /data with files, and /keep with a file, imported from a gzip tar
        /// (so its layer is stored compressed, as a pulled one would be).
        static func base(_ box: Sandbox) throws {
            try sh("""
                cp -a \(box.rootfs) \(box.dir)/base
                echo motd > \(box.dir)/base/etc/motd
                mkdir -p \(box.dir)/base/data/sub \(box.dir)/base/keep
                echo 1 > \(box.dir)/base/data/one; echo 2 > \(box.dir)/base/data/sub/two; echo old > \(box.dir)/base/keep/old
                tar -C \(box.dir)/base -czf \(box.dir)/base.tgz .
                """)
            let o = try box.vitro(["import", "-c", "CMD [\"sh\"]", box.dir + "/base.tgz", "base:1"])
            guard o.status == 0 else { throw SandboxError(message: "import: \(o.stderr)") }
        }

        /// A container `c1` on base:1 that made the changes, and its committed image.
        static func committed(_ box: Sandbox) throws -> String {
            try base(box)
            let run = try box.vitro(["run", "--name", "c1", "base:1", "sh", "-c", changes])
            guard run.status == 0 else { throw SandboxError(message: "run: \(run.stderr)") }
            let commit = try box.vitro(["commit", "-m", "one of each", "-a", "Tester <t@example.com>", "-c", "ENV X=1", "-c", "CMD [\"cat\", \"/added\"]", "c1", "committed:1"])
            guard commit.status == 0 else { throw SandboxError(message: "commit: \(commit.stderr)") }
            return commit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// What a run of `image` shows of every change.
        static let probe = "cat /added; tail -n 1 /etc/motd; ls /etc/group /data 2>&1; ls /keep; cat /made/deep/f; echo X=$X"
        static let probeOutput = """
            new
            changed
            ls: /etc/group: No such file or directory
            ls: /data: No such file or directory
            fresh
            d
            X=1

            """

        static func storeIsClean(_ box: Sandbox, _ root: String? = nil) {
            let r = root ?? box.root
            let ingest = (try? FileManager.default.contentsOfDirectory(atPath: r + "/ingest")) ?? []
            #expect(ingest.filter { !$0.hasSuffix(".lock") }.isEmpty, "temporary files left in the ingest area: \(ingest)")
            let snaps = (try? FileManager.default.contentsOfDirectory(atPath: r + "/snapshots")) ?? []
            #expect(!snaps.contains { $0.hasPrefix("tmp-") }, "snapshot drafts left: \(snaps)")
        }

        @Test func diffAndCommitShowTheChangesAndTheDeletions() throws {
            try leavesNothing {
                let box = try Sandbox()
                let id = try Self.committed(box)
                #expect(id.hasPrefix("sha256:") && id.count == 71)

                let diff = try box.vitro(["diff", "c1"])
                #expect(diff.status == 0, "\(diff.stderr)")
                #expect(diff.stdout.split(separator: "\n").map(String.init) == Self.expectedDiff)

                // The image is in the store with its history, author, comment and config.
                let images = try box.vitro(["images", "committed"])
                let row = images.stdout.split(separator: "\n").dropFirst().first?.split(separator: " ").map(String.init) ?? []
                #expect(row.prefix(3) == ["committed", "1", String(id.dropFirst(7).prefix(12))], "\(images.stdout)")
                let history = try box.vitro(["history", "--no-trunc", "committed:1"])
                #expect(history.stdout.split(separator: "\n").count == 3, "\(history.stdout)")
                #expect(history.stdout.contains("one of each") && history.stdout.contains("sh -c echo new > /added"))
                let inspect = try box.vitro(["inspect", "-f", "{{.Author}}|{{json .Config.Cmd}}|{{json .Config.Env}}|{{len .RootFS.Layers}}", "committed:1"])
                #expect(inspect.stdout.hasPrefix("Tester <t@example.com>|[\"cat\",\"/added\"]|"), "\(inspect.stdout)")
                #expect(inspect.stdout.contains("\"X=1\"") && !inspect.stdout.contains("HOSTNAME=") && inspect.stdout.hasSuffix("|2\n"))

                // Run again: the changes and the deletions, and nothing unpacked.
                let trace = box.dir + "/run.jsonl"
                let plain = try box.vitro(["run", "--rm", "--trace", trace, "committed:1"])
                #expect(plain.status == 0 && plain.stdout == "new\n", "\(plain.stderr)")
                let events = try readTrace(trace)
                #expect(!events.contains { ($0["name"] as? String) == "untar" }, "the commit made the snapshot: nothing to unpack")
                let probe = try box.vitro(["run", "--rm", "committed:1", "sh", "-c", Self.probe])
                #expect(probe.stdout == Self.probeOutput, "\(probe.stdout)\(probe.stderr)")

                // The layer is exactly the upper directory, in OCI form.
                let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: box.root + "/images/index.json"))) as? [String: Any]
                let record = (manifest?["images"] as? [[String: Any]])?.first { ($0["name"] as? String) == "docker.io/library/committed" }
                let manifestDigest = try #require(record?["manifest"] as? String)
                let m = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: box.root + "/blobs/sha256/" + manifestDigest.dropFirst(7)))) as? [String: Any]
                let layers = try #require(m?["layers"] as? [[String: Any]])
                #expect(layers.count == 2 && layers.last?["mediaType"] as? String == "application/vnd.oci.image.layer.v1.tar")
                let layerHex = try #require((layers.last?["digest"] as? String)?.dropFirst(7))
                let listing = try Self.sh("tar -tf \(box.root)/blobs/sha256/\(layerHex)").split(separator: "\n").map(String.init)
                #expect(listing == [
                    "added", ".wh.data", "etc/", "etc/.wh.group", "etc/motd", "keep/", "keep/.wh..wh..opq", "keep/fresh",
                    "made/", "made/deep/", "made/deep/f",
                ], "\(listing)")
                #expect(try sha256Hex(box.root + "/blobs/sha256/" + layerHex) == String(layerHex), "an uncompressed layer's digest is its diffID")

                Self.storeIsClean(box)
                #expect(try box.vitro(["rm", "c1"]).status == 0)
                let rmi = try box.vitro(["rmi", "committed:1"])
                #expect(rmi.status == 0 && rmi.stdout.contains("Deleted: \(id)"), "\(rmi.stdout)\(rmi.stderr)")
                #expect(!FileManager.default.fileExists(atPath: box.root + "/blobs/sha256/" + layerHex))
            }
        }

        @Test func commitFreezesARunningContainerOnlyWhileItReads() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box)
                let run = try box.vitro(["run", "-d", "--name", "busy", "base:1", "sh", "-c", "echo running > /state; while :; do sleep 0.1; done"])
                #expect(run.status == 0, "\(run.stderr)")
                usleep(500_000)
                let trace = box.dir + "/commit.jsonl"
                let paused = try box.vitro(["commit", "--trace", trace, "busy", "snap:1"])
                #expect(paused.status == 0, "\(paused.stderr)")
                let events = try readTrace(trace).filter { ($0["group"] as? String) == "cgroup" }
                let frozen = events.compactMap { ($0["args"] as? [String: Any])?["value"] as? String }
                #expect(frozen.contains { $0.hasPrefix("FROZEN") || $0 == "1" } && frozen.contains { $0.hasPrefix("THAWED") || $0 == "0" }, "freezer writes: \(frozen)")
                #expect(try box.vitro(["inspect", "-f", "{{.State.Status}}", "busy"]).stdout == "running\n")
                let unpaused = try box.vitro(["commit", "-p", "false", "--trace", trace, "busy", "snap:2"])
                #expect(unpaused.status == 0)
                #expect(try readTrace(trace).filter { ($0["group"] as? String) == "cgroup" }.isEmpty, "-p false does not touch the freezer")
                let shown = try box.vitro(["run", "--rm", "snap:1", "cat", "/state"])
                #expect(shown.stdout == "running\n")
                _ = try box.vitro(["rm", "-f", "busy"])
                Self.storeIsClean(box)
            }
        }

        @Test func exportAndImportRoundTrip() throws {
            try leavesNothing {
                let box = try Sandbox()
                _ = try Self.committed(box)
                let out = box.dir + "/c1.tar"
                let export = try box.vitro(["export", "-o", out, "c1"])
                #expect(export.status == 0, "\(export.stderr)")
                let names = Set(try Self.sh("tar -tf \(out)").split(separator: "\n").map(String.init))
                #expect(names.contains("bin/busybox") && names.contains("added") && names.contains("keep/fresh") && names.contains("etc/motd"))
                #expect(!names.contains { $0.hasPrefix("data") || $0 == "etc/group" || $0 == "keep/old" || $0.contains(".wh.") }, "merged: deletions applied, no whiteouts")
                // From a file, with -c and -m; and gzip'd from stdin.
                let imported = try box.vitro(["import", "-m", "flat", "-c", "ENV X=1", out, "flat:1"])
                #expect(imported.status == 0, "\(imported.stderr)")
                let probe = try box.vitro(["run", "--rm", "flat:1", "sh", "-c", Self.probe])
                #expect(probe.stdout == Self.probeOutput, "\(probe.stdout)\(probe.stderr)")
                #expect(try box.vitro(["history", "flat:1"]).stdout.contains("flat"))
                try Self.sh("gzip -c \(out) > \(out).gz")
                let fromStdin = try runProcess("/bin/sh", ["-c", "'\(Binaries.vitro)' import - flat:2 < \(out).gz"], env: box.env)
                #expect(fromStdin.status == 0, "\(fromStdin.stderr)")
                #expect(try box.vitro(["history", "flat:2"]).stdout.contains("Imported from -"))
                #expect(try box.vitro(["run", "--rm", "flat:2", "cat", "/keep/fresh"]).stdout == "fresh\n")
                Self.storeIsClean(box)
            }
        }

        @Test func saveAndLoadRoundTripInVitro() throws {
            try leavesNothing {
                let box = try Sandbox()
                let id = try Self.committed(box)
                let other = box.dir + "/other"
                var otherEnv = box.env
                otherEnv["VITRO_ROOT"] = other
                for (format, extra) in [("docker", [String]()), ("oci", []), ("oci", ["--compression", "zstd"]), ("oci", ["--compression", "none"])] {
                    let file = box.dir + "/saved-\(format)-\(extra.last ?? "gzip").tar"
                    let save = try box.vitro(["save", "--format", format] + extra + ["-o", file, "committed:1"])
                    #expect(save.status == 0, "\(format) \(extra): \(save.stderr)")
                    try? FileManager.default.removeItem(atPath: other)
                    let load = try runProcess("/bin/sh", ["-c", "'\(Binaries.vitro)' load < \(file)"], env: otherEnv)
                    #expect(load.status == 0 && load.stdout == "Loaded image: committed:1\n", "\(format) \(extra): \(load.stdout)\(load.stderr)")
                    let inspect = try runProcess(Binaries.vitro, ["inspect", "-f", "{{.Id}}", "committed:1"], env: otherEnv)
                    #expect(inspect.stdout == id + "\n", "the config travels byte for byte: the id stays")
                    let probe = try runProcess(Binaries.vitro, ["run", "--rm", "committed:1", "sh", "-c", Self.probe], env: otherEnv)
                    #expect(probe.stdout == Self.probeOutput, "\(format) \(extra): \(probe.stdout)\(probe.stderr)")
                    Self.storeIsClean(box, other)
                }
                // docker-archive layers are plain tar, named by chain id, as docker save has them.
                let listing = try Self.sh("tar -tf \(box.dir)/saved-docker-gzip.tar")
                #expect(listing.contains("manifest.json") && listing.contains("repositories") && listing.contains(String(id.dropFirst(7)) + ".json") && listing.contains("/layer.tar"))
                // A save to a terminal is refused; an unknown image is one line and no file.
                let missing = try box.vitro(["save", "-o", box.dir + "/none.tar", "nope:1"])
                #expect(missing.status == 125 && missing.stderr == "vitro: save: no such image: nope:1\n", "\(missing.stderr)")
                #expect(!FileManager.default.fileExists(atPath: box.dir + "/none.tar"))
                #expect(try FileManager.default.contentsOfDirectory(atPath: box.dir).filter { $0.contains(".tmp-") }.isEmpty)
            }
        }

        static let hasPeers = ["/usr/bin/skopeo", "/usr/bin/umoci"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

        @Test(.enabled(if: hasPeers, "needs skopeo and umoci (scripts/install-deps)"))
        func skopeoAndUmociReadTheOCIArchive() throws {
            try leavesNothing {
                let box = try Sandbox()
                let id = try Self.committed(box)
                let archive = box.dir + "/oci.tar"
                #expect(try box.vitro(["save", "--format", "oci", "-o", archive, "committed:1"]).status == 0)
                let inspect = try runProcess("/usr/bin/skopeo", ["inspect", "--config", "oci-archive:\(archive):1"])
                #expect(inspect.status == 0, "\(inspect.stderr)")
                let config = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any]
                #expect(((config?["rootfs"] as? [String: Any])?["diff_ids"] as? [String])?.count == 2)
                #expect((config?["history"] as? [[String: Any]])?.last?["comment"] as? String == "one of each")
                let digest = try runProcess("/usr/bin/skopeo", ["inspect", "--format", "{{.Digest}}", "oci-archive:\(archive):1"])
                let rawConfig = try runProcess("/usr/bin/skopeo", ["inspect", "--raw", "oci-archive:\(archive):1"])
                #expect(digest.status == 0 && rawConfig.stdout.contains(id), "the manifest names the same config: the image id stays")
                // skopeo copies it into a layout; umoci unpacks that to a root with the changes.
                let copy = try runProcess("/usr/bin/skopeo", ["copy", "--quiet", "oci-archive:\(archive):1", "oci:\(box.dir)/copied:1"])
                #expect(copy.status == 0, "\(copy.stderr)")
                let unpack = try runProcess("/usr/bin/umoci", ["unpack", "--image", "\(box.dir)/copied:1", box.dir + "/bundle"])
                #expect(unpack.status == 0, "\(unpack.stderr)")
                let rootfs = box.dir + "/bundle/rootfs"
                let fm = FileManager.default
                #expect(fm.fileExists(atPath: rootfs + "/added") && fm.fileExists(atPath: rootfs + "/keep/fresh") && fm.fileExists(atPath: rootfs + "/bin/busybox"))
                #expect(!fm.fileExists(atPath: rootfs + "/data") && !fm.fileExists(atPath: rootfs + "/etc/group") && !fm.fileExists(atPath: rootfs + "/keep/old"))
                // The layout as a directory, straight to umoci.
                #expect(try box.vitro(["save", "--format", "oci-dir", "-o", box.dir + "/layout", "committed:1"]).status == 0)
                let direct = try runProcess("/usr/bin/umoci", ["unpack", "--image", "\(box.dir)/layout:1", box.dir + "/bundle2"])
                #expect(direct.status == 0, "\(direct.stderr)")
                #expect(try String(contentsOfFile: box.dir + "/bundle2/rootfs/etc/motd", encoding: .utf8) == "motd\nchanged\n")
            }
        }

        @Test(.enabled(if: DockerDaemon.available, "needs dockerd and docker (apt-get install -y docker.io)"))
        func dockerLoadsWhatVitroSavesAndViceVersa() throws {
            try leavesNothing {
                let box = try Sandbox()
                let id = try Self.committed(box)
                guard let docker = DockerDaemon.started() else { return }
                defer { docker.stop() }
                // vitro save -> docker load -> docker run.
                let saved = box.dir + "/for-docker.tar"
                #expect(try box.vitro(["save", "-o", saved, "committed:1"]).status == 0)
                let load = try docker.run(["load", "-i", saved])
                #expect(load.status == 0 && load.stdout.contains("Loaded image: committed:1"), "\(load.stdout)\(load.stderr)")
                let dockerID = try docker.run(["image", "inspect", "-f", "{{.Id}}", "committed:1"])
                #expect(dockerID.stdout == id + "\n", "docker computes the same image id")
                let probe = try docker.run(["run", "--rm", "--network", "none", "committed:1", "sh", "-c", Self.probe])
                #expect(probe.stdout == Self.probeOutput, "\(probe.stdout)\(probe.stderr)")

                // docker commit of docker's own container -> docker save -> vitro load -> vitro run.
                let made = try docker.run(["run", "--name", "dc", "--network", "none", "committed:1", "sh", "-c", "rm -rf /made; echo docker > /from-docker; rm /etc/motd"])
                #expect(made.status == 0, "\(made.stderr)")
                #expect(try docker.run(["commit", "-c", "CMD [\"cat\", \"/from-docker\"]", "dc", "fromdocker:1"]).status == 0)
                let dsave = box.dir + "/from-docker.tar"
                #expect(try docker.run(["save", "-o", dsave, "fromdocker:1"]).status == 0)
                _ = try docker.run(["rm", "dc"])
                let vload = try box.vitro(["load", "-i", dsave])
                #expect(vload.status == 0 && vload.stdout == "Loaded image: fromdocker:1\n", "\(vload.stdout)\(vload.stderr)")
                let vrun = try box.vitro(["run", "--rm", "fromdocker:1"])
                #expect(vrun.stdout == "docker\n", "\(vrun.stderr)")
                let gone = try box.vitro(["run", "--rm", "fromdocker:1", "sh", "-c", "ls /made /etc/motd 2>&1; cat /added"])
                #expect(gone.stdout == "ls: /made: No such file or directory\nls: /etc/motd: No such file or directory\nnew\n", "\(gone.stdout)")
                Self.storeIsClean(box)
            }
        }

        @Test func badInputIsOneLineAndLeavesNothing() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box)
                #expect(try box.vitro(["run", "--name", "c1", "base:1", "true"]).status == 0)
                let before = try box.vitro(["images", "-q"]).stdout
                func refused(_ args: [String], _ prefix: String, code: Int32 = 125, input: String? = nil) throws {
                    let o = try box.vitro(args, input: input)
                    #expect(o.status == code, "\(args): \(o.status) \(o.stderr)")
                    #expect(o.stderr.hasPrefix(prefix) && o.stderr.split(separator: "\n").count == 1, "\(args): \(o.stderr)")
                    Self.storeIsClean(box)
                }
                try refused(["commit", "nope"], "vitro: no such container: nope", code: 1)
                try refused(["diff", "nope"], "vitro: no such container: nope", code: 1)
                try refused(["commit", "-c", "RUN make", "c1", "x:1"], "vitro: commit c1: invalid change \"RUN make\": RUN is not one of")
                try refused(["commit", "c1", "Bad:Name"], "vitro: commit: invalid reference format")
                #expect(try box.run(["true"], extra: ["--name", "onrootfs"]).status == 0)
                try refused(["commit", "onrootfs"], "vitro: commit onrootfs: container ")
                // Tars with names that leave the root: refused by import and by load.
                try Self.sh("""
                    cd \(box.dir) && mkdir -p evil/a && echo x > evil/a/x
                    tar -C evil -cf evil.tar --transform 's,^a,../a,' a 2>/dev/null
                    """)
                try refused(["import", box.dir + "/evil.tar", "evil:1"], "vitro: import \(box.dir)/evil.tar: tar: entry 1 \"../a/\": \"..\" component refused")
                try refused(["import", box.dir + "/nonexistent.tar"], "vitro: import \(box.dir)/nonexistent.tar: open")
                try refused(["load", "-i", box.dir + "/evil.tar"], "vitro: load: tar: entry 1 \"../a/\": \"..\" component refused")
                // A docker-archive whose layer hides a ../ entry: refused before anything is stored.
                try Self.sh("""
                    cd \(box.dir) && mkdir -p arch/l && cp evil.tar arch/l/layer.tar
                    d=$(sha256sum arch/l/layer.tar | cut -d' ' -f1)
                    printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' $d > arch/c.json
                    printf '[{"Config":"c.json","RepoTags":["evil:2"],"Layers":["l/layer.tar"]}]' > arch/manifest.json
                    tar -C arch -cf evil-archive.tar manifest.json c.json l
                    """)
                try refused(["load", "-i", box.dir + "/evil-archive.tar"], "vitro: load: \(box.dir)/evil-archive.tar: layer 1 of image ")
                try refused(["load", "-i", box.dir + "/base.tgz"], "vitro: load: \(box.dir)/base.tgz: not an image archive")
                try refused(["save", "--format", "tarball", "base:1"], "vitro: save: --format tarball")
                try refused(["export", "-o", box.dir + "/no/such/dir/x.tar", "c1"], "vitro: export c1: open")
                #expect(try box.vitro(["images", "-q"]).stdout == before, "no image was made")
                #expect(!FileManager.default.fileExists(atPath: box.dir + "/no"))
            }
        }

        /// The run scripts/make-golden makes for chapter 09, compared with Traces/09-commit.jsonl.
        @Test func goldenTraceMatchesAFreshCommit() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.sh("tar -C \(box.rootfs) -cf \(box.dir)/rootfs.tar .")
                #expect(try box.vitro(["import", box.dir + "/rootfs.tar", "golden:base"]).status == 0)
                #expect(try box.vitro(["run", "--name", "golden", "golden:base", "sh", "-c", Self.goldenScript]).status == 0)
                let trace = box.dir + "/commit.jsonl"
                #expect(try box.vitro(["commit", "--trace", trace, "-m", "golden", "golden", "golden:committed"]).status == 0)
                let normalized = try box.vitro(["trace", "normalize", trace])
                #expect(normalized.status == 0, "\(normalized.stderr)")
                try Integration.GoldenTraces.expectMatches("09-commit.jsonl", normalized.stdout, minimum: 21)
            }
        }

        /// The container of the golden trace: a file added, one changed, one deleted, a
        /// directory deleted, one emptied and made again, and more files than the trace
        /// has events for.
        static let goldenScript = """
            echo hello > /hello; echo changed >> /etc/passwd; rm /etc/group; rm -rf /home; \
            rm -rf /tmp && mkdir /tmp; mkdir /many && for i in $(seq 1 40); do echo $i > /many/$i; done
            """
    }
}

/// A Docker daemon of the test's own: its data, exec root and socket in a temporary
/// directory, no bridge, no iptables rules, containers' cgroups under a parent of the
/// test's that is removed afterwards; stopped (and everything it made removed) by `stop`.
final class DockerDaemon {
    static let dockerd = "/usr/sbin/dockerd"
    static let client = ["/usr/bin/docker", "/usr/local/bin/docker"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var available: Bool { FileManager.default.isExecutableFile(atPath: dockerd) && client != nil }

    let dir: String
    let cgroupParent: String
    private var process: Process?
    private let hadRunDocker = FileManager.default.fileExists(atPath: "/run/docker")
    var socket: String { dir + "/docker.sock" }

    /// A daemon of the test's own, or nil, recorded as a known issue, when dockerd
    /// cannot start on this machine (the comparison is then not made).
    static func started() -> DockerDaemon? {
        do {
            return try DockerDaemon()
        } catch {
            withKnownIssue("dockerd could not start here: \(error)") { throw error }
            return nil
        }
    }

    init() throws {
        dir = "/tmp/vitro-dockerd-" + UUID().uuidString.prefix(8).lowercased()
        cgroupParent = "vitro-test-docker-" + UUID().uuidString.prefix(6).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        process = try startBackground(Self.dockerd, [
            "--data-root", dir + "/data", "--exec-root", dir + "/exec", "--pidfile", dir + "/dockerd.pid", "-H", "unix://" + socket,
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false", "--storage-driver=overlay2",
            "--cgroup-parent=/" + cgroupParent,
        ], log: dir + "/dockerd.log", env: ["TMPDIR": dir])  // containerd dumps its stacks (containerd.PID.stacks.log) into TMPDIR when signalled: into the test's directory, which goes
        for _ in 0..<100 {
            if FileManager.default.fileExists(atPath: socket), (try? run(["version"]))?.status == 0 { return }
            if process?.isRunning != true { break }
            usleep(200_000)
        }
        let log = (try? String(contentsOfFile: dir + "/dockerd.log", encoding: .utf8)) ?? ""
        stop()
        throw SandboxError(message: "dockerd did not come up: \(log.suffix(600))")
    }

    func run(_ args: [String], timeout: Double = 120) throws -> Output {
        try runProcess(Self.client ?? "/usr/bin/docker", args, env: ["DOCKER_HOST": "unix://" + socket], timeout: timeout)
    }

    /// Stops dockerd (SIGTERM, as it cleans up after itself then; SIGKILL after 20 s),
    /// then removes its directory, the cgroups it made and /run/docker if it made that.
    func stop() {
        guard let p = process else { return }
        process = nil
        let containerdPid = (try? String(contentsOfFile: dir + "/exec/containerd/containerd.pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if p.isRunning {
            kill(p.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(20)
            while p.isRunning && Date() < deadline { usleep(100_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        p.waitUntilExit()
        if let c = containerdPid, kill(c, 0) == 0 {
            kill(c, SIGTERM)
            usleep(500_000)
            if kill(c, 0) == 0 { kill(c, SIGKILL) }
        }
        // dockerd bind-mounts its data root onto itself; it is unmounted at exit, but not if it was killed.
        for line in ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").split(separator: "\n").reversed() {
            let f = line.split(separator: " ")
            if f.count > 4, f[4].hasPrefix(dir) { _ = umount2(String(f[4]), Int32(MNT_DETACH)) }
        }
        try? FileManager.default.removeItem(atPath: dir)
        for c in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let path = "/sys/fs/cgroup/\(c)/\(cgroupParent)"
            if FileManager.default.fileExists(atPath: path) { rmdir(path) }
        }
        if !hadRunDocker { try? FileManager.default.removeItem(atPath: "/run/docker") }
    }

    deinit { stop() }
}
