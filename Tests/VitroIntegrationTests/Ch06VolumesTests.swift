// Chapter 06: how data outlives a container. Host directories, named and anonymous
// volumes seen from the host, from a second container and after the first is gone;
// read-only mounts refused by the kernel (EROFS); a single file; the data-volume
// container pattern; propagation; a symlink swapped to / while containers start; the
// image's VOLUME entries filled from the image; and bad input, which is one line and
// leaves nothing behind.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch06Volumes {
        /// `inspect -f '{{json .Mounts}}'` of a container, decoded.
        func mounts(_ box: Sandbox, _ container: String) throws -> [[String: Any]] {
            let o = try box.vitro(["inspect", "-f", "{{json .Mounts}}", container])
            #expect(o.status == 0, "\(o.stderr)")
            return (try JSONSerialization.jsonObject(with: Data(o.stdout.utf8)) as? [[String: Any]]) ?? []
        }

        func lines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init) }

        func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

        /// Nothing of a refused run is left: no container, no volume, no temporary file.
        func expectNothingMade(_ box: Sandbox, sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(try box.vitro(["ps", "-a", "-q"]).stdout == "", sourceLocation: sourceLocation)
            #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "", sourceLocation: sourceLocation)
            let fm = FileManager.default
            let containers = (try? fm.contentsOfDirectory(atPath: box.root + "/containers")) ?? []
            #expect(containers.allSatisfy { $0.hasPrefix(".") && !$0.contains("tmp") }, "left in the store: \(containers)", sourceLocation: sourceLocation)
            let volumes = (try? fm.contentsOfDirectory(atPath: box.root + "/volumes")) ?? []
            #expect(volumes.allSatisfy { $0 == ".lock" }, "left in the store: \(volumes)", sourceLocation: sourceLocation)
        }

        @Test func aHostDirectoryIsSharedWithTheHostAndOutlivesTheContainer() throws {
            try leavesNothing {
                let box = try Sandbox()
                let host = box.dir + "/site"
                let first = try box.run(["/bin/sh", "-c", "echo written-inside > /data/page; ls /data"], extra: ["--name", "writer", "-v", host + ":/data"])
                #expect(first.status == 0 && first.stdout == "page\n", "\(first.stderr)")
                #expect(read(host + "/page") == "written-inside\n", "-v made the missing host directory and the host sees the file")
                try "from-host\n".write(toFile: host + "/note", atomically: false, encoding: .utf8)
                let second = try box.run(["/bin/cat", "/srv/page", "/srv/note"], extra: ["--rm", "-v", host + ":/srv"])
                #expect(second.stdout == "written-inside\nfrom-host\n")
                let m = try mounts(box, "writer")
                #expect(m.count == 1 && m.first?["Type"] as? String == "bind" && m.first?["Source"] as? String == host)
                #expect(m.first?["Destination"] as? String == "/data" && m.first?["RW"] as? Bool == true && m.first?["Propagation"] as? String == "rprivate")
                #expect(try box.vitro(["rm", "-v", "writer"]).status == 0)
                #expect(read(host + "/page") == "written-inside\n", "a host directory is never removed with the container")
            }
        }

        @Test func aNamedVolumeOutlivesTheContainerAndCannotBeRemovedWhileUsed() throws {
            try leavesNothing {
                let box = try Sandbox()
                let first = try box.run(["/bin/sh", "-c", "echo kept > /data/f"], extra: ["--name", "w1", "-v", "appdata:/data"])
                #expect(first.status == 0, "\(first.stderr)")
                let mountpoint = try box.vitro(["volume", "inspect", "-f", "{{.Mountpoint}}", "appdata"]).stdout
                #expect(mountpoint == box.root + "/volumes/appdata/_data\n")
                #expect(read(box.root + "/volumes/appdata/_data/f") == "kept\n", "the host sees the volume's data")
                #expect(try box.run(["/bin/cat", "/other/f"], extra: ["--rm", "-v", "appdata:/other"]).stdout == "kept\n")
                let inUse = try box.vitro(["volume", "rm", "appdata"])
                let id = try box.vitro(["inspect", "-f", "{{.Id}}", "w1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(inUse.status == 1 && inUse.stderr == "vitro: remove appdata: volume is in use - [\(id)]\n")
                // rm -v leaves a named volume; a later container finds the data.
                #expect(try box.vitro(["rm", "-v", "w1"]).status == 0)
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "appdata\n")
                #expect(try box.run(["/bin/cat", "/data/f"], extra: ["--rm", "-v", "appdata:/data"]).stdout == "kept\n")
                let rm = try box.vitro(["volume", "rm", "appdata"])
                #expect(rm.status == 0 && rm.stdout == "appdata\n")
                #expect(!FileManager.default.fileExists(atPath: box.root + "/volumes/appdata"))
            }
        }

        @Test func anAnonymousVolumeIsFoundByItsNameAfterItsContainerIsGone() throws {
            try leavesNothing {
                let box = try Sandbox()
                _ = try box.run(["/bin/sh", "-c", "echo anon > /data/f"], extra: ["--name", "a1", "-v", "/data"])
                let m = try mounts(box, "a1")
                let name = m.first?["Name"] as? String ?? ""
                let source = m.first?["Source"] as? String ?? ""
                #expect(name.count == 64 && name.allSatisfy(\.isHexDigit) && m.first?["Type"] as? String == "volume" && m.first?["Driver"] as? String == "local")
                #expect(read(source + "/f") == "anon\n")
                #expect(try box.vitro(["volume", "inspect", "-f", "{{json .Labels}}", name]).stdout == "{\"com.docker.volume.anonymous\":\"\"}\n")
                #expect(try box.run(["/bin/cat", "/data/f"], extra: ["--rm", "--volumes-from", "a1"]).stdout == "anon\n")
                // rm without -v keeps it (dangling); by its name another container mounts it.
                #expect(try box.vitro(["rm", "a1"]).status == 0)
                #expect(try box.vitro(["volume", "ls", "-q", "--filter", "dangling=true"]).stdout == name + "\n")
                // Named in the run, it is not the run's anonymous volume: --rm leaves it.
                #expect(try box.run(["/bin/cat", "/again/f"], extra: ["--rm", "-v", name + ":/again"]).stdout == "anon\n")
                let prune = try box.vitro(["volume", "prune", "-f"])
                #expect(prune.stdout == "Deleted Volumes:\n\(name)\n\nTotal reclaimed space: 5B\n")
                // rm -v and --rm take a container's anonymous volumes with it.
                _ = try box.run(["/bin/true"], extra: ["--name", "a2", "-v", "/x"])
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout.count == 65)
                #expect(try box.vitro(["rm", "-v", "a2"]).status == 0)
                _ = try box.run(["/bin/true"], extra: ["--rm", "-v", "/y", "-v", "keepme:/z"])
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "keepme\n", "--rm removes anonymous volumes, not named ones")
                _ = try box.vitro(["volume", "rm", "keepme"])
            }
        }

        @Test func readOnlyMountsAreRefusedByTheKernelWithEROFS() throws {
            try leavesNothing {
                let box = try Sandbox()
                let host = box.dir + "/ro"
                try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
                let v = try box.run(["/bin/sh", "-c", "touch /data/x; grep ' /data ' /proc/self/mountinfo | cut -d' ' -f6"], extra: ["--rm", "-v", host + ":/data:ro"])
                #expect(v.stderr == "touch: /data/x: Read-only file system\n", "\(v.stderr)")
                #expect(v.stdout.hasPrefix("ro,"), "the kernel's mount flags say ro: \(v.stdout)")
                #expect(!FileManager.default.fileExists(atPath: host + "/x"))
                let m = try box.run(["/bin/sh", "-c", "echo x > /cache/y"], extra: ["--rm", "--mount", "type=volume,src=rocache,dst=/cache,readonly"])
                #expect(m.status != 0 && m.stderr.contains("Read-only file system"))
                // The same volume is writable where it is not mounted read-only.
                #expect(try box.run(["/bin/sh", "-c", "echo x > /cache/y && echo ok"], extra: ["--rm", "-v", "rocache:/cache"]).stdout == "ok\n")
                // --volumes-from :ro makes every inherited mount read-only.
                _ = try box.run(["/bin/true"], extra: ["--name", "src", "-v", "rocache:/cache"])
                let from = try box.run(["/bin/touch", "/cache/z"], extra: ["--rm", "--volumes-from", "src:ro"])
                #expect(from.stderr == "touch: /cache/z: Read-only file system\n")
                _ = try box.vitro(["rm", "src"])
                _ = try box.vitro(["volume", "rm", "rocache"])
            }
        }

        @Test func aSingleFileCanBeMounted() throws {
            try leavesNothing {
                let box = try Sandbox()
                let file = box.dir + "/app.conf"
                try "setting=1\n".write(toFile: file, atomically: false, encoding: .utf8)
                let ro = try box.run(["/bin/sh", "-c", "cat /etc/app.conf; ls -l /etc/app.conf | cut -c1; echo x >> /etc/app.conf"], extra: ["--rm", "-v", file + ":/etc/app.conf:ro"])
                #expect(ro.stdout == "setting=1\n-\n" && ro.stderr.contains("Read-only file system"), "\(ro.stdout)\(ro.stderr)")
                let rw = try box.run(["/bin/sh", "-c", "echo setting=2 >> /conf/app.conf"], extra: ["--rm", "--mount", "type=bind,src=\(file),dst=/conf/app.conf"])
                #expect(rw.status == 0, "\(rw.stderr)")
                #expect(read(file) == "setting=1\nsetting=2\n", "the host's file got the container's write")
                // A user's /etc/hosts replaces vitro's own.
                let hosts = box.dir + "/hosts"
                try "10.9.8.7 mine\n".write(toFile: hosts, atomically: false, encoding: .utf8)
                #expect(try box.run(["/bin/cat", "/etc/hosts"], extra: ["--rm", "-v", hosts + ":/etc/hosts:ro"]).stdout == "10.9.8.7 mine\n")
                // A file cannot go where the container has a directory.
                let clash = try box.run(["/bin/true"], extra: ["--rm", "-v", file + ":/etc"])
                #expect(clash.status == 125 && clash.stderr == "vitro: cannot mount the file \(file) on /etc: it is a directory in the container\n")
            }
        }

        @Test func theDataVolumeContainerPattern() throws {
            try leavesNothing {
                let box = try Sandbox()
                let d = try box.vitro(["run", "-d", "-v", "/dbdata", "--name", "dbdata", "--rootfs", box.rootfs, "/bin/sh", "-c", "echo seed > /dbdata/seed; sleep 60"])
                #expect(d.status == 0, "\(d.stderr)")
                usleep(300_000)
                let c1 = try box.run(["/bin/sh", "-c", "cat /dbdata/seed; echo one > /dbdata/c1"], extra: ["--name", "c1", "--volumes-from", "dbdata"])
                #expect(c1.stdout == "seed\n", "\(c1.stderr)")
                let c2 = try box.run(["/bin/sh", "-c", "cat /dbdata/c1; echo two > /dbdata/c2"], extra: ["--name", "c2", "--volumes-from", "dbdata"])
                #expect(c2.stdout == "one\n")
                // The running data container sees what both wrote.
                #expect(try box.vitro(["exec", "dbdata", "/bin/cat", "/dbdata/c2"]).stdout == "two\n")
                let name = try mounts(box, "dbdata").first?["Name"] as? String ?? "?"
                #expect(try mounts(box, "c1").first?["Name"] as? String == name && (try mounts(box, "c2").first?["Name"] as? String) == name)
                let ro = try box.run(["/bin/touch", "/dbdata/nope"], extra: ["--rm", "--volumes-from", "dbdata:ro"])
                #expect(ro.stderr == "touch: /dbdata/nope: Read-only file system\n")
                // The volume stays while any container uses it, whatever removes the others.
                #expect(try box.vitro(["rm", "-f", "-v", "dbdata"]).status == 0)
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == name + "\n")
                #expect(try box.vitro(["rm", "-v", "c1"]).status == 0)
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == name + "\n")
                #expect(try box.vitro(["rm", "-v", "c2"]).status == 0)
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "", "the last user's rm -v takes it")
            }
        }

        @Test func restartMountsTheSameVolumesAgain() throws {
            try leavesNothing {
                let box = try Sandbox()
                let first = try box.run(["/bin/sh", "-c", "echo run >> /keep/log; wc -l < /keep/log"], extra: ["--name", "again", "-v", "/keep"])
                #expect(first.stdout.trimmingCharacters(in: .whitespaces) == "1\n")
                let second = try box.vitro(["start", "-a", "again"])
                #expect(second.stdout.trimmingCharacters(in: .whitespaces) == "2\n", "\(second.stderr)")
                #expect(lines(try box.vitro(["volume", "ls", "-q"]).stdout).count == 1, "start made no new anonymous volume")
                #expect(try box.vitro(["rm", "-v", "again"]).status == 0)
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "")
            }
        }

        @Test func aTmpfsMountLivesInMemory() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.run(["/bin/sh", "-c", "grep ' /scratch ' /proc/self/mountinfo | cut -d' ' -f6,8-; touch /scratch/ok && echo ok"], extra: ["--rm", "--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m"])
                #expect(o.stdout.hasPrefix("rw,nosuid,nodev,noexec"), "\(o.stdout)")
                #expect(o.stdout.contains("tmpfs tmpfs rw,size=1024k") && o.stdout.hasSuffix("ok\n"), "\(o.stdout)")
            }
        }

        @Test func slaveAndSharedPropagationFollowTheHost() throws {
            try leavesNothing {
                let box = try Sandbox()
                let prop = box.dir + "/prop"
                try FileManager.default.createDirectory(atPath: prop, withIntermediateDirectories: true)
                // The source must be on a shared mount (Docker asks the same).
                let refused = try box.run(["/bin/true"], extra: ["--rm", "-v", prop + ":/p:rslave"])
                #expect(refused.status == 125 && refused.stderr.hasPrefix("vitro: path \(prop) is mounted on ") && refused.stderr.contains("but it is not a shared or slave mount"), "\(refused.stderr)")
                #expect(try runProcess("/usr/bin/mount", ["-t", "tmpfs", "vitro-prop", prop]).status == 0)
                defer {
                    for p in [prop + "/in", prop + "/sub", prop] { _ = try? runProcess("/usr/bin/umount", [p]) }
                }
                #expect(try runProcess("/usr/bin/mount", ["--make-shared", prop]).status == 0)
                let watch = "sleep 1.2; test -e /p/sub/marker && echo sees-host-mount || echo no-host-mount"
                _ = try box.vitro(["run", "-d", "--name", "slave", "--rootfs", box.rootfs, "-v", prop + ":/p:rslave", "/bin/sh", "-c", watch])
                _ = try box.vitro(["run", "-d", "--name", "private", "--rootfs", box.rootfs, "-v", prop + ":/p", "/bin/sh", "-c", watch])
                usleep(400_000)
                try FileManager.default.createDirectory(atPath: prop + "/sub", withIntermediateDirectories: true)
                #expect(try runProcess("/usr/bin/mount", ["-t", "tmpfs", "vitro-prop-sub", prop + "/sub"]).status == 0)
                try "m".write(toFile: prop + "/sub/marker", atomically: false, encoding: .utf8)
                _ = try box.vitro(["wait", "slave", "private"])
                #expect(try box.vitro(["logs", "slave"]).stdout == "sees-host-mount\n")
                #expect(try box.vitro(["logs", "private"]).stdout == "no-host-mount\n", "rprivate, Docker's default, keeps host mounts out")
                // rshared: a mount made inside appears on the host.
                let inside = try box.run(
                    ["/bin/sh", "-c", "mkdir -p /p/in && mount -t tmpfs from-container /p/in && echo mounted"],
                    extra: ["--rm", "--cap-add", "SYS_ADMIN", "-v", prop + ":/p:rshared"])
                #expect(inside.stdout == "mounted\n", "\(inside.stderr)")
                let hostMounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
                #expect(hostMounts.contains(" \(prop)/in ") && hostMounts.contains("from-container"), "the container's mount reached the host")
                #expect(try box.vitro(["inspect", "-f", "{{json .Mounts}}", "slave"]).stdout.contains("\"Propagation\":\"rslave\""))
                _ = try box.vitro(["rm", "slave", "private"])
            }
        }

        @Test func aSymlinkSwappedToTheRootNeverGetsAMountOutsideTheRootfs() throws {
            try leavesNothing {
                let box = try Sandbox()
                let fm = FileManager.default
                let secret = box.dir + "/volume-data"
                try fm.createDirectory(atPath: secret, withIntermediateDirectories: true)
                try "inside\n".write(toFile: secret + "/race-marker", atomically: false, encoding: .utf8)
                try fm.createDirectory(atPath: box.rootfs + "/mnt", withIntermediateDirectories: true)
                let rootfs = URL(fileURLWithPath: box.rootfs).resolvingSymlinksInPath().path
                // A container sharing the rootfs swaps /mnt/x between a directory and a link to /.
                let swap = "while :; do rm -rf /mnt/x; mkdir /mnt/x; rm -rf /mnt/x; ln -s / /mnt/x; done"
                let attacker = try box.vitro(["run", "-d", "--name", "swapper", "--rootfs", box.rootfs, "/bin/sh", "-c", swap])
                #expect(attacker.status == 0, "\(attacker.stderr)")
                usleep(200_000)
                var started = 0, refused = 0
                for i in 0..<30 {
                    let trace = box.dir + "/race-\(i).jsonl"
                    let o = try box.run(
                        ["/bin/sh", "-c", "test -x /bin/busybox && echo root-is-the-rootfs"],
                        extra: ["--rm", "--trace", trace, "-v", secret + ":/mnt/x"])
                    if o.status == 0 {
                        started += 1
                        #expect(o.stdout == "root-is-the-rootfs\n")
                    } else {
                        refused += 1
                        #expect(o.status == 125 && o.stderr.hasPrefix("vitro: ") && lines(o.stderr).count == 1, "\(o.status) \(o.stderr)")
                    }
                    // Every mount made for the volume landed at the rootfs's /mnt/x, nowhere else.
                    let made = try readTrace(trace).filter { e in
                        e["name"] as? String == "mount" && (e["args"] as? [String: Any])?["via"] != nil && (e["ret"] as? Int) == 0
                    }
                    for e in made {
                        #expect((e["args"] as? [String: Any])?["target"] as? String == rootfs + "/mnt/x", "mounted at \(e)")
                    }
                    #expect(made.count <= 1)
                }
                #expect(started + refused == 30)
                #expect(started > 0, "no run got its volume: the test raced nothing")
                #expect(!fm.fileExists(atPath: "/race-marker") && !fm.fileExists(atPath: rootfs + "/race-marker"))
                #expect(try box.vitro(["rm", "-f", "swapper"]).status == 0)
                #expect(read(secret + "/race-marker") == "inside\n", "the volume's data is intact")
            }
        }

        @Test func badInputIsOneLineAndLeavesNothingBehind() throws {
            try leavesNothing {
                let box = try Sandbox()
                let cases: [([String], String)] = [
                    (["-v", "data/dir:/x"], "vitro: invalid volume specification \"data/dir:/x\": \"data/dir\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path\n"),
                    (["-v", "./data:/x"], "vitro: invalid volume specification \"./data:/x\": \"./data\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path\n"),
                    (["--mount", "type=bind,source=\(box.dir)/missing,target=/x"], "vitro: invalid mount config for type \"bind\": bind source path does not exist: \(box.dir)/missing\n"),
                    (["-v", "/tmp:/x:bogus"], "vitro: invalid volume specification \"/tmp:/x:bogus\": unknown option \"bogus\" (ro, rw, nocopy, z, Z, or a propagation: private, rprivate, shared, rshared, slave, rslave)\n"),
                    (["--mount", "type=bind,src=/tmp,dst=/x,bogus=1"], "vitro: invalid argument \"type=bind,src=/tmp,dst=/x,bogus=1\" for \"--mount\" flag: unexpected key 'bogus' in 'bogus=1'\n"),
                    (["-v", "/tmp:x"], "vitro: invalid volume specification \"/tmp:x\": the container path \"x\" is not absolute\n"),
                    (["-v", "/tmp:/x", "-v", "v1:/x"], "vitro: duplicate mount point: /x\n"),
                    (["--volumes-from", "nosuch"], "vitro: no such container: nosuch\n"),
                ]
                for (args, message) in cases {
                    for detach in [false, true] {
                        let o = try box.vitro(["run"] + (detach ? ["-d"] : []) + ["--rootfs", box.rootfs] + args + ["/bin/true"])
                        #expect(o.status == 125 && o.stderr == message, "\(args): \(o.status) \(o.stderr)")
                        #expect(o.stdout == "")
                    }
                    try expectNothingMade(box)
                }
                #expect(!FileManager.default.fileExists(atPath: box.dir + "/missing"), "--mount never makes its source")
                // A volume in use is not removed.
                _ = try box.run(["/bin/true"], extra: ["--name", "user", "-v", "busy:/x"])
                let id = try box.vitro(["inspect", "-f", "{{.Id}}", "user"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                let inUse = try box.vitro(["volume", "rm", "busy"])
                #expect(inUse.status == 1 && inUse.stderr == "vitro: remove busy: volume is in use - [\(id)]\n" && inUse.stdout == "")
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "busy\n")
                let missing = try box.vitro(["volume", "rm", "nosuch"])
                #expect(missing.status == 1 && missing.stderr == "vitro: no such volume: nosuch\n")
                #expect(try box.vitro(["volume", "rm", "-f", "nosuch"]).status == 0)
                let badName = try box.vitro(["volume", "create", "no/slash"])
                #expect(badName.status == 125 && lines(badName.stderr).count == 1 && badName.stderr.contains("includes invalid characters"))
                _ = try box.vitro(["rm", "user"])
                _ = try box.vitro(["volume", "rm", "busy"])
                try expectNothingMade(box)
            }
        }

        @Test func volumeCommandsPrintWhatDockerPrints() throws {
            try leavesNothing {
                let box = try Sandbox()
                #expect(try box.vitro(["volume", "create", "--label", "team=web", "web-data"]).stdout == "web-data\n")
                #expect(try box.vitro(["volume", "create", "web-data"]).stdout == "web-data\n", "create is idempotent, as Docker's")
                let unnamed = try box.vitro(["volume", "create"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(unnamed.count == 64)
                let ls = try box.vitro(["volume", "ls"]).stdout
                #expect(ls == "DRIVER    VOLUME NAME\n" + [unnamed, "web-data"].sorted().map { "local     \($0)\n" }.joined())
                let inspect = try box.vitro(["volume", "inspect", "web-data"])
                let doc = try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [[String: Any]]
                let v = doc?.first ?? [:]
                #expect(v.keys.sorted() == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"])
                #expect(v["Driver"] as? String == "local" && v["Scope"] as? String == "local" && v["Name"] as? String == "web-data")
                #expect((v["Labels"] as? [String: String]) == ["team": "web"] && v["Mountpoint"] as? String == box.root + "/volumes/web-data/_data")
                #expect(inspect.stdout.hasPrefix("[\n    {\n        \"CreatedAt\": \""))
                #expect(try box.vitro(["volume", "ls", "-q", "--filter", "label=team=web"]).stdout == "web-data\n")
                #expect(try box.vitro(["volume", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "name=web"]).stdout == "web-data local\n")
                // prune leaves named (and unnamed-but-created) volumes unless -a.
                #expect(try box.vitro(["volume", "prune", "-f"]).stdout == "Total reclaimed space: 0B\n")
                let all = try box.vitro(["volume", "prune", "-f", "-a"]).stdout
                #expect(all.hasPrefix("Deleted Volumes:\n") && all.contains("web-data\n") && all.contains(unnamed + "\n"))
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "")
                // Without -f, prune asks first; "n" keeps everything.
                _ = try box.vitro(["volume", "create", "kept"])
                let asked = try box.vitro(["volume", "prune", "-a"], input: "n\n")
                #expect(asked.stdout == "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ")
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "kept\n")
                _ = try box.vitro(["volume", "rm", "kept"])
            }
        }

        /// An image whose config declares VOLUME /var/lib/app, with a file there.
        @Test(.enabled(if: RegistryConditions.hasTools, "needs docker-registry, skopeo, htpasswd, openssl, python3 and curl (scripts/install-deps)"))
        func theImagesVolumesAreFilledFromTheImage() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let imageRoot = box.dir + "/image-rootfs"
                #expect(try runProcess("/usr/bin/cp", ["-a", box.rootfs, imageRoot]).status == 0)
                try FileManager.default.createDirectory(atPath: imageRoot + "/var/lib/app", withIntermediateDirectories: true)
                try "from-image\n".write(toFile: imageRoot + "/var/lib/app/seed", atomically: false, encoding: .utf8)
                let layout = try OCILayout(dir: box.dir + "/oci")
                let image = try layout.addImage(rootfs: imageRoot, architecture: "amd64", volumes: ["/var/lib/app"])
                try layout.tag(image, as: "latest")
                try registry.push(layout: layout.dir, tag: "latest", as: "withvolume:latest")
                let name = "\(registry.host)/withvolume"

                // VOLUME: a new anonymous volume, filled with the image's files.
                let first = try box.vitro(["run", "--name", "img1", name, "/bin/sh", "-c", "cat /var/lib/app/seed; echo mine > /var/lib/app/mine"])
                #expect(first.status == 0 && first.stdout == "from-image\n", "\(first.stderr)")
                let m = try mounts(box, "img1")
                #expect(m.count == 1 && m.first?["Destination"] as? String == "/var/lib/app" && (m.first?["Name"] as? String)?.count == 64)
                let source = m.first?["Source"] as? String ?? ""
                #expect(read(source + "/seed") == "from-image\n" && read(source + "/mine") == "mine\n")
                // A named volume is filled the first time only: once it holds data, it is left alone.
                _ = try box.vitro(["run", "--rm", "-v", "appvol:/var/lib/app", name, "/bin/sh", "-c", "echo changed > /var/lib/app/seed"])
                #expect(try box.vitro(["run", "--rm", "-v", "appvol:/var/lib/app", name, "/bin/cat", "/var/lib/app/seed"]).stdout == "changed\n")
                // A host directory and a nocopy volume are never filled.
                let host = box.dir + "/empty"
                #expect(try box.vitro(["run", "--rm", "-v", host + ":/var/lib/app", name, "/bin/ls", "/var/lib/app"]).stdout == "")
                #expect(try box.vitro(["run", "--rm", "--mount", "type=volume,dst=/var/lib/app,volume-nocopy", name, "/bin/ls", "/var/lib/app"]).stdout == "")
                #expect(try box.vitro(["rm", "-v", "img1"]).status == 0)
                #expect(try box.vitro(["volume", "ls", "-q"]).stdout == "appvol\n", "rm -v took the image's anonymous volume; --rm took the nocopy one")
                _ = try box.vitro(["volume", "rm", "appvol"])
                _ = try box.vitro(["rmi", name])
            }
        }
    }
}
