// The tutorial vitro's users follow (../shared/seeds/, a 2014 Docker tutorial), run
// top to bottom by scripts/tutorial.sh with `vitro` for `sudo docker`, offline.
//
// The lab it needs is what a course would set up: a network namespace playing the
// host (NetLab), and the tutorial's images (ubuntu, training/webapp, training/postgres,
// registry) built here from busybox-static and served by a registry that itself runs in
// a vitro container on the lab's 127.0.0.1:5001, named as the Docker Hub mirror. The
// images are stand-ins: ubuntu's /bin/bash is busybox's sh (its apt-get "installs" an
// nginx that prints the site), training/webapp's
// `python app.py` is busybox httpd serving "Hello world!" on port 5000, and registry is
// Debian's docker-registry. The commands the tutorial types are unchanged.

import Foundation
import Testing

extension Integration {
    @Suite(
        .enabled(if: RegistryConditions.hasTools, "needs docker-registry, skopeo, htpasswd, openssl, python3 and curl (scripts/install-deps)"),
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs script (util-linux) for the tutorial's -i -t"),
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") && FileManager.default.isExecutableFile(atPath: NetLab.nsenter), "needs nft and nsenter"))
    struct Tutorial {
        static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/tutorial.sh").path

        /// The lab's images, in an OCI layout under the tags `ubuntu`, `webapp`,
        /// `postgres` and `registry`.
        static func buildImages(_ box: Sandbox) throws -> OCILayout {
            let fm = FileManager.default
            func tree(_ name: String, from base: String) throws -> String {
                let dir = box.dir + "/images/" + name
                try fm.createDirectory(atPath: box.dir + "/images", withIntermediateDirectories: true)
                let o = try runProcess("/bin/cp", ["-a", base, dir])
                guard o.status == 0 else { throw SandboxError(message: "cp: \(o.stderr)") }
                return dir
            }
            func file(_ path: String, _ text: String, mode: Int = 0o644) throws {
                try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try? fm.removeItem(atPath: path)
                try text.write(toFile: path, atomically: false, encoding: .utf8)
                try fm.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            }
            let ubuntu = try tree("ubuntu", from: box.rootfs)
            try file(ubuntu + "/bin/bash", "#!/bin/sh\nexec /bin/sh \"$@\"\n", mode: 0o755)
            // The tutorial's `nc -l 4444` is traditional netcat's; busybox wants -p.
            // The Dockerfile's `apt-get -y install nginx`: a stand-in that "installs" one.
            try file(ubuntu + "/usr/bin/apt-get", "#!/bin/sh\necho \"apt-get $*\"\ncase \"$*\" in *install*nginx*) mkdir -p /usr/sbin; printf '#!/bin/sh\\necho nginx serving; cat /var/www/html/index.html\\n' > /usr/sbin/nginx; chmod +x /usr/sbin/nginx;; esac\n", mode: 0o755)
            try file(ubuntu + "/bin/nc", "#!/bin/sh\nif [ \"$1\" = -l ] && [ $# -eq 2 ]; then exec /bin/busybox nc -l -p \"$2\"; fi\nexec /bin/busybox nc \"$@\"\n", mode: 0o755)
            let webapp = try tree("webapp", from: ubuntu)
            try file(webapp + "/opt/webapp/index.html", "Hello world!\n")
            try file(webapp + "/opt/webapp/app.py", "# served by busybox httpd in this lab\n")
            try file(webapp + "/usr/bin/python", "#!/bin/sh\n[ -f /opt/webapp/index.html ] || echo 'Hello world!' > /opt/webapp/index.html 2>/dev/null\nexec /bin/busybox httpd -f -p 5000 -h /opt/webapp\n", mode: 0o755)
            let registry = try tree("registry", from: ubuntu)
            for (from, to) in [("/usr/bin/docker-registry", "/usr/bin/docker-registry"), ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"), ("/lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2")] {
                try fm.createDirectory(atPath: registry + (to as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let o = try runProcess("/bin/cp", ["-L", from, registry + to])
                guard o.status == 0 else { throw SandboxError(message: "cp \(from): \(o.stderr)") }
            }
            try file(registry + "/etc/docker/registry/config.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n")

            let layout = try OCILayout(dir: box.dir + "/oci")
            try layout.tag([
                (try layout.addImage(rootfs: ubuntu, architecture: "amd64", cmd: ["/bin/bash"]), "ubuntu"),
                (try layout.addImage(rootfs: webapp, architecture: "amd64", exposedPorts: ["5000/tcp"], cmd: ["python", "app.py"], workingDir: "/opt/webapp"), "webapp"),
                (try layout.addImage(rootfs: ubuntu, architecture: "amd64", marker: "postgres", exposedPorts: ["5432/tcp"], cmd: ["/bin/sh", "-c", "while true; do sleep 1; done"]), "postgres"),
                (try layout.addImage(rootfs: registry, architecture: "amd64", exposedPorts: ["5000/tcp"], cmd: ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]), "registry"),
            ])
            try? fm.removeItem(atPath: box.dir + "/images")
            return layout
        }

        @Test func theTutorialsCommandsWorkWithVitroForDocker() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let box = lab.box
                let layout = try Self.buildImages(box)

                // The registry image as `docker save` writes it, for the tutorial's load.
                let registryTar = box.dir + "/registry.tar"
                var o = try runProcess("/usr/bin/skopeo", ["copy", "--quiet", "oci:\(layout.dir):registry", "docker-archive:\(registryTar):registry:latest"], timeout: 120)
                try #require(o.status == 0, "skopeo: \(o.stderr)")

                // The mirror: a registry in a vitro container on the lab's 127.0.0.1:5001,
                // filled with the tutorial's images under Docker Hub's names.
                o = try lab.vitro(["load", "-i", registryTar])
                try #require(o.status == 0, "load: \(o.stderr)")
                o = try lab.vitro(["run", "-d", "--name", "mirror", "-p", "5001:5000"] + lab.bridgeFlags + ["registry"])
                try #require(o.status == 0, "mirror: \(o.stderr)")
                defer {
                    // A tutorial that stopped half-way leaves its containers (and their
                    // monitors) running: remove every one before the lab goes.
                    let ids = ((try? lab.vitro(["ps", "-aq"]))?.stdout ?? "").split(separator: "\n").map(String.init)
                    if !ids.isEmpty { _ = try? lab.vitro(["rm", "-f", "-v"] + ids) }
                    _ = try? lab.vitro(["volume", "prune", "-f"])
                }
                var up = false
                for _ in 0..<50 where !up {
                    up = (try? lab.inHost(["/usr/bin/curl", "-sf", "http://127.0.0.1:5001/v2/"]))?.status == 0
                    if !up { usleep(200_000) }
                }
                try #require(up, "the mirror answers on 127.0.0.1:5001")
                for (tag, name) in [("ubuntu", "library/ubuntu:latest"), ("ubuntu", "library/ubuntu:12.04"), ("ubuntu", "library/ubuntu:12.10"), ("webapp", "training/webapp:latest"), ("postgres", "training/postgres:latest")] {
                    o = try lab.inHost(["/usr/bin/skopeo", "copy", "--quiet", "--dest-tls-verify=false", "oci:\(layout.dir):\(tag)", "docker://127.0.0.1:5001/\(name)"], timeout: 120)
                    try #require(o.status == 0, "seed \(name): \(o.stderr)")
                }

                // The tutorial, as a shell script in the lab's host namespace.
                let bin = box.dir + "/bin", home = box.dir + "/home", work = box.dir + "/work", src = box.dir + "/src-webapp"
                for d in [bin, home, work, src] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
                try FileManager.default.createSymbolicLink(atPath: bin + "/vitro", withDestinationPath: Binaries.vitro)
                try "#!/bin/sh\nexec /bin/busybox nc \"$@\"\n".write(toFile: bin + "/nc", atomically: false, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/nc")
                let env = [
                    "VITRO_ROOT": box.root, "VITRO_NETWORK": "bridge", "VITRO_BRIDGE": lab.bridge, "VITRO_BIP": lab.bip,
                    "VITRO_REGISTRY_MIRROR": "http://127.0.0.1:5001", "REGISTRY_TAR": registryTar, "SRC": src, "HOME": home,
                    "PATH": bin + ":/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "xterm",
                ]
                let run = try runProcess(NetLab.nsenter, ["--net=/run/netns/" + lab.host, "/bin/sh", "-c", "cd \(work) && exec /bin/sh \(Self.script)"], env: env, timeout: 600)
                let steps = run.stdout.split(separator: "\n").filter { $0.hasPrefix("ok: ") }
                let blocks = try String(contentsOfFile: Self.script, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("ok \"") }
                #expect(run.status == 0 && run.stdout.hasSuffix("done\n"), "the tutorial stopped:\n\(run.stdout)\n\(run.stderr)")
                #expect(steps.count == blocks.count && blocks.count >= 14, "every block of the tutorial: \(steps)")

                // The tutorial's clean-up (`rm -f $(ps -aq)`) removed the mirror too.
                #expect(try lab.vitro(["ps", "-aq"]).stdout == "", "the tutorial's clean-up removed every container")
                #expect(try lab.leftovers() == [])
            }
        }
    }
}
