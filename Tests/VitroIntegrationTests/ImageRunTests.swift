// `vitro run IMAGE`: pull when missing, unpack into snapshots, run on an overlay of
// them, with the image's Cmd, Env and WorkingDir — the tutorial's `docker run -i -t
// ubuntu /bin/bash` path, against a registry on 127.0.0.1.

import Foundation
import Testing

extension Integration {
    @Suite(.enabled(if: RegistryConditions.hasTools, "needs docker-registry, skopeo, htpasswd, openssl, python3 and curl (scripts/install-deps)"))
    struct ImageRun {
        @Test func runPullsUnpacksAndRunsOnAnOverlay() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let layout = try OCILayout(dir: box.dir + "/oci")
                let image = try layout.addImage(rootfs: box.rootfs, architecture: "amd64")
                try layout.tag(image, as: "latest")
                try registry.push(layout: layout.dir, tag: "latest", as: "busybox:latest")
                let name = "\(registry.host)/busybox"
                let trace = box.dir + "/t.jsonl"

                // Not in the store: pulled, then run with the image's Cmd (sh) reading stdin.
                let first = try box.vitro(["run", "-i", "--trace", trace, name], input: "echo from-image; echo $PATH; pwd; touch /made-here\n")
                #expect(first.status == 0, "\(first.stderr)")
                #expect(first.stdout == "from-image\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/\n")
                #expect(first.stderr.contains("Unable to find image '\(name)' locally"))
                let events = try readTrace(trace)
                let stages = events.filter { ($0["ph"] as? String) == "B" }.compactMap { $0["name"] as? String }
                #expect(stages == ["pull", "unpack", "namespaces", "cgroups", "network", "exec"])
                let overlay = events.first { ($0["name"] as? String) == "mount" && (($0["args"] as? [String: Any])?["fstype"] as? String) == "overlay" }
                #expect(overlay != nil, "pid 1 mounts the overlay")
                #expect(events.contains { ($0["name"] as? String) == "untar" })

                // A second run reuses the image and its snapshot, and does not see the
                // first container's file: each container has its own upper directory.
                let second = try box.vitro(["run", "--trace", trace, name, "/bin/sh", "-c", "test -e /made-here && echo leaked || echo clean"])
                #expect(second.stdout == "clean\n")
                #expect(!second.stderr.contains("Unable to find image"))
                let again = try readTrace(trace)
                #expect(!again.contains { ($0["name"] as? String) == "untar" }, "the layer is unpacked once")
                #expect(again.filter { ($0["ph"] as? String) == "B" }.compactMap { $0["name"] as? String } == ["unpack", "namespaces", "cgroups", "network", "exec"])

                // The image's layer on disk is untouched by the container's writes.
                let snapshots = try FileManager.default.contentsOfDirectory(atPath: box.root + "/snapshots").filter { $0.count == 64 }
                #expect(snapshots.count == 1)
                #expect(!FileManager.default.fileExists(atPath: box.root + "/snapshots/\(snapshots[0])/fs/made-here"))

                // Detached, by name, with the image's command replaced.
                let d = try box.vitro(["run", "-d", "--name", "img", name, "/bin/sh", "-c", "echo detached; cat /etc/hostname 2>/dev/null; hostname"])
                #expect(d.status == 0, "\(d.stderr)")
                #expect(try box.vitro(["wait", "img"]).stdout == "0\n")
                #expect(try box.vitro(["logs", "img"]).stdout.hasPrefix("detached\n"))
                #expect(try box.vitro(["inspect", "-f", "{{.Config.Image}} {{json .Config.Cmd}}", "img"]).stdout == "\(name) [\"/bin/sh\",\"-c\",\"echo detached; cat /etc/hostname 2>/dev/null; hostname\"]\n")
                // An image a container uses is not removed without -f.
                let refused = try box.vitro(["rmi", name])
                #expect(refused.status != 0 && refused.stderr.contains("image is being used by container"), "\(refused.stderr)")
                _ = try box.vitro(["rm", "img"])
                let containers = try box.vitro(["ps", "-a", "-q"]).stdout.split(separator: "\n").map(String.init)
                if !containers.isEmpty { _ = try box.vitro(["rm"] + containers) }
                let removed = try box.vitro(["rmi", name])
                #expect(removed.status == 0, "\(removed.stderr)")
            }
        }

        @Test func aMissingImageIsOneLine() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let o = try box.vitro(["run", "\(registry.host)/nothing-here", "true"])
                #expect(o.status == 125)
                #expect(o.stderr.split(separator: "\n").last?.hasPrefix("vitro: pull \(registry.host)/nothing-here: ") == true, "\(o.stderr)")
                let bad = try box.vitro(["run", "Busybox", "true"])
                #expect(bad.status == 125 && bad.stderr.hasPrefix("vitro: invalid reference format"))
            }
        }
    }
}
