// Chapter 02 as root: whiteouts and opaque directories in overlayfs form, checked by
// mounting the snapshots with overlayfs (in a mount namespace of the test's own, so
// the host's mount table never changes); and a real-world check: layers made by GNU
// tar (pax with xattrs, and its default GNU format), unpacked by vitro and by `tar -x`,
// compared entry by entry; and a three-layer image with whiteouts, an opaque directory,
// hard links, symlinks and xattrs, pulled from a real registry by vitro and unpacked by
// umoci, whose root filesystems must agree entry for entry.

import Foundation
import Testing

import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

extension Integration {
    @Suite struct Ch02Layers {
        /// Runs a shell script; throws with its stderr when it fails.
        @discardableResult
        static func sh(_ script: String) throws -> String {
            let o = try runProcess("/bin/sh", ["-c", "set -e\n" + script])
            guard o.status == 0 else { throw SandboxError(message: "sh failed (\(o.status)): \(o.stderr)\n\(script)") }
            return o.stdout
        }

        /// A scratch directory under /tmp, removed at the end.
        final class Dir {
            let path: String
            init() throws {
                path = NSTemporaryDirectory() + "vitro-ch02-" + UUID().uuidString.prefix(8).lowercased()
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            }
            deinit { try? Sys.removeTree(path) }
        }

        static func digest(ofFile path: String) throws -> Digest {
            try #require(Digest("sha256:" + (sh("sha256sum '\(path)'").split(separator: " ").first.map(String.init) ?? "")))
        }

        static func setXattr(_ path: String, _ name: String, _ value: String) throws {
            let parent = (path as NSString).deletingLastPathComponent
            let fd = open(parent, O_RDONLY | O_DIRECTORY)
            defer { close(fd) }
            try Sys.lsetxattr(fd, (path as NSString).lastPathComponent, name: name, value: Array(value.utf8), trace: false)
        }

        @Test func whiteoutsAndOpaqueDirectoriesAsOverlayfsReadsThem() throws {
            try leavesNothing {
                let d = try Dir()
                let sink = MemorySink()
                Tracer.shared.addSink(sink)
                try Self.sh(
                    """
                    cd \(d.path)
                    mkdir -p base/etc base/olddir base/opq base/kept
                    echo a > base/etc/a; echo b > base/etc/b; echo gone > base/gone
                    echo x > base/olddir/x; echo old > base/opq/old; echo lower > base/kept/lowerfile
                    mkdir -p top/opq top/kept
                    : > top/.wh.gone; : > top/.wh.olddir; : > top/.wh.kept
                    : > top/opq/.wh..wh..opq; echo new > top/opq/new; echo upper > top/kept/upperfile
                    tar --sort=name -cf base.tar -C base . && gzip -k base.tar
                    tar --sort=name -cf top.tar -C top . && zstd -q top.tar
                    """)
                let store = SnapshotStore(root: d.path + "/state")
                let base = try store.unpack(
                    FileSource(path: d.path + "/base.tar.gz"), name: "base", diffID: try Self.digest(ofFile: d.path + "/base.tar"))
                let top = try store.unpack(
                    FileSource(path: d.path + "/top.tar.zst"), name: "top", parent: base.chainID,
                    diffID: try Self.digest(ofFile: d.path + "/top.tar"))
                #expect(base.compression == .gzip && top.compression == .zstd)

                // The OCI markers are gone; overlayfs's own forms are there instead.
                #expect(!(try Self.sh("cd \(top.fs) && find .")).contains(".wh."))
                for name in ["gone", "olddir"] {
                    let st = try #require(Sys.status(top.fs + "/" + name))
                    #expect(st.isWhiteout && st.uid == 0 && st.gid == 0, "\(name) is a 0:0 character device")
                }
                #expect(Sys.extendedAttribute(top.fs + "/opq", "trusted.overlay.opaque") == Array("y".utf8))
                // The layer has kept/ and .wh.kept: the lower kept/ was deleted and this
                // one replaces it, so it is opaque too.
                #expect(Sys.extendedAttribute(top.fs + "/kept", "trusted.overlay.opaque") == Array("y".utf8))
                #expect(Sys.extendedAttribute(top.fs + "/etc", "trusted.overlay.opaque") == nil)

                // What a container would see: mount the stack in a private mount namespace.
                let plan = OverlayPlan(layers: [base.fs, top.fs], containerDir: d.path + "/c")
                for dir in plan.directoriesToCreate { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
                let seen = try Self.sh("unshare -m sh -c '\(try plan.shell()) && cd \(plan.mergedDir) && find . | sort'")
                #expect(seen.split(separator: "\n") == [".", "./etc", "./etc/a", "./etc/b", "./kept", "./kept/upperfile", "./opq", "./opq/new"])

                // One event per marker, each saying what it means.
                let whiteouts = sink.events.filter { $0.name == "whiteout" && $0.args["error"] == nil }
                #expect(Set(whiteouts.compactMap { $0.args["hides"]?.text }) == ["gone", "olddir", "kept"])
                #expect(whiteouts.allSatisfy { ($0.why ?? "").contains("character device 0:0") })
                let opaque = try #require(sink.events.first { $0.name == "opaque" })
                #expect(opaque.args["path"] == .string("opq") && opaque.shell == "setfattr -n trusted.overlay.opaque -v y opq")
            }
        }

        /// The source tree for the real-world check: every entry type, odd modes,
        /// owners, times with nanoseconds, long and non-ASCII names, xattrs.
        static func makeTree(_ src: String) throws {
            try sh(
                """
                mkdir -p \(src) && cd \(src)
                mkdir -p dir/sub empty-dir 'é dir' private sticky
                printf 'hello\\n' > dir/file
                head -c 100000 /dev/urandom > dir/big
                : > empty
                printf x > suid && chmod 4755 suid
                printf y > sgid && chmod 2750 sgid
                chmod 1777 sticky; chmod 700 private
                printf 'ü' > 'é dir/naïve.txt'
                long=$(printf 'L%.0s' $(seq 150)); echo long > "dir/$long"
                seg=$(printf 's%.0s' $(seq 60)); mkdir -p "deep/$seg/$seg/$seg/$seg"; echo deep > "deep/$seg/$seg/$seg/$seg/f"
                ln -s file dir/rel-link; ln -s /etc/passwd abs-link; ln -s nowhere dangling
                ln dir/file dir/hard
                mkfifo fifo; mknod chardev c 1 3; mknod blockdev b 7 200
                chown 1234:5678 dir/file private; chown -h 4321:8765 dir/rel-link
                touch -d @1600000000.123456789 dir/file
                touch -h -d @1500000000 dir/rel-link
                """)
            try setXattr(src + "/dir/file", "user.note", "a note")
            try setXattr(src + "/dir", "user.dir", "on a directory")
            try setXattr(src + "/dir/big", "trusted.vitro", "trusted")
            try setXattr(src + "/abs-link", "trusted.link", "on a symlink")
            try sh("cd \(src) && touch -d @1400000000 dir 'é dir' private && touch -d @1300000000 .")
        }

        /// What a tree holds, path by path, in the respects a layer carries.
        static func facts(_ root: String) throws -> [String: String] {
            var out: [String: String] = [:]
            let paths = try sh("cd '\(root)' && find . -print0 | tr '\\0' '\\n'").split(separator: "\n").map(String.init)
            for rel in paths {
                let p = root + "/" + rel
                let st = try #require(Sys.status(p), "\(rel)")
                var f = "mode=\(String(st.mode, radix: 8)) owner=\(st.uid):\(st.gid) links=\(st.links)"
                f += " mtime=\(st.mtime.seconds).\(st.mtime.nanoseconds)"
                if st.isSymlink { f += " -> " + (Sys.readlink(p) ?? "?") }
                if st.isRegular { f += " sha256=" + Digest.sha256(try Sys.readFile(p)).short }
                if st.isCharacterDevice || st.isBlockDevice { f += " dev=\(st.rdevMajor):\(st.rdevMinor)" }
                let x = Sys.extendedAttributes(p).sorted { $0.key < $1.key }.map { "\($0.key)=\(String(decoding: $0.value, as: UTF8.self))" }
                if !x.isEmpty { f += " xattrs=" + x.joined(separator: ",") }
                out[rel] = f
            }
            return out
        }

        static func compare(format: String, createFlags: String) throws {
            let d = try Dir()
            let src = d.path + "/src", ref = d.path + "/ref"
            try makeTree(src)
            let tar = d.path + "/layer.tar"
            try sh(
                """
                tar \(createFlags) --sort=name -cf \(tar) -C \(src) .
                mkdir \(ref)
                tar -x -p --same-owner --numeric-owner --xattrs --xattrs-include='*' -f \(tar) -C \(ref)
                """)
            let store = SnapshotStore(root: d.path + "/state")
            let snap = try store.unpack(FileSource(path: tar), name: format, diffID: try digest(ofFile: tar))
            let theirs = try facts(ref), ours = try facts(snap.fs)
            #expect(theirs.count > 25, "the tree has every kind of entry")
            for path in Set(theirs.keys).union(ours.keys).sorted() {
                #expect(ours[path] == theirs[path], "\(format) \(path): vitro \(ours[path] ?? "missing"), tar -x \(theirs[path] ?? "missing")")
            }
        }

        @Test func paxWithXattrsUnpacksAsTarExtractsIt() throws {
            try leavesNothing {
                try Self.compare(format: "pax", createFlags: "--format=pax --xattrs --xattrs-include='*'")
            }
        }

        @Test func gnuTarsDefaultFormatUnpacksAsTarExtractsIt() throws {
            try leavesNothing {
                try Self.compare(format: "gnu", createFlags: "")
            }
        }

        static let hasPeers = RegistryConditions.hasTools
            && ["/usr/bin/umoci", "/usr/bin/zstd", "/usr/bin/unshare"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }

        /// What a tree holds, for both peers alike (the same program reads both): per
        /// path its type, mode, owner, size, content hash, link target, device number,
        /// xattrs, and which other paths are the same file (hard links).
        static let factsProgram = #"""
            import hashlib, json, os, stat, sys
            root = sys.argv[1]
            out, inodes = {}, {}
            paths = ["."]
            for d, dirs, files in os.walk(root):
                for n in dirs + files:
                    paths.append(os.path.relpath(os.path.join(d, n), root))
            for rel in paths:
                p = os.path.join(root, rel)
                st = os.lstat(p)
                m = st.st_mode
                kind = ("file" if stat.S_ISREG(m) else "dir" if stat.S_ISDIR(m) else "symlink" if stat.S_ISLNK(m)
                        else "char" if stat.S_ISCHR(m) else "block" if stat.S_ISBLK(m) else "fifo" if stat.S_ISFIFO(m) else "other")
                f = "%s mode=%o owner=%d:%d" % (kind, stat.S_IMODE(m), st.st_uid, st.st_gid)
                if kind == "file":
                    f += " size=%d sha256=%s" % (st.st_size, hashlib.sha256(open(p, "rb").read()).hexdigest()[:16])
                    if st.st_nlink > 1:
                        inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
                if kind == "symlink":
                    f += " -> " + os.readlink(p)
                if kind in ("char", "block"):
                    f += " dev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
                xattrs = sorted((k, os.getxattr(p, k, follow_symlinks=False)) for k in os.listxattr(p, follow_symlinks=False))
                if xattrs:
                    f += " xattrs=" + ",".join("%s=%r" % (k, v) for k, v in xattrs)
                out[rel] = f
            for group in inodes.values():
                for rel in group:
                    out[rel] += " same-file-as=" + ",".join(sorted(set(group) - {rel}))
            print(json.dumps(out))
            """#

        /// Three layers: a base, one that deletes a file and a directory, replaces a file
        /// by a symlink and changes another, and one that makes a directory opaque,
        /// re-creates the deleted directory, retargets a symlink and adds a hard link.
        static func makeLayers(_ d: String) throws -> [(tar: String, compressor: String)] {
            try sh(
                """
                cd \(d)
                mkdir -p l1/bin l1/etc l1/olddir l1/opq/sub l1/data l1/proc l1/sys l1/dev l1/tmp
                cp /bin/busybox l1/bin/busybox; ln -s busybox l1/bin/sh; ln -s busybox l1/bin/true
                chmod 1777 l1/tmp
                printf 'root:x:0:0:root:/root:/bin/sh\\n' > l1/etc/passwd
                echo gone > l1/etc/gone; echo keep > l1/etc/keep; echo replaced > l1/etc/replaced
                echo x > l1/olddir/x; echo y > l1/olddir/y
                echo old1 > l1/opq/old1; echo old2 > l1/opq/sub/old2
                head -c 70000 /dev/urandom > l1/data/file
                chown 1234:5678 l1/data/file; chmod 640 l1/data/file
                ln l1/data/file l1/data/hard
                ln -s file l1/data/link; ln -s /etc/passwd l1/data/abs
                printf s > l1/data/suid; chmod 4755 l1/data/suid
                mkfifo l1/data/fifo; mknod l1/data/null c 1 3
                chmod 750 l1/data; chown 0:5678 l1/data

                mkdir -p l2/etc l2/data
                : > l2/etc/.wh.gone; : > l2/.wh.olddir
                echo changed > l2/etc/keep; ln -s keep l2/etc/replaced
                printf new > l2/data/new; chown 42:42 l2/data/new; chmod 600 l2/data/new
                chmod 750 l2/data; chown 0:5678 l2/data

                mkdir -p l3/opq l3/olddir l3/data
                : > l3/opq/.wh..wh..opq; echo new > l3/opq/new
                echo z > l3/olddir/z
                echo three > l3/data/l3file; ln l3/data/l3file l3/data/l3hard; ln -s l3file l3/data/link
                chmod 750 l3/data; chown 0:5678 l3/data
                """)
            try setXattr(d + "/l1/data/file", "user.note", "a note")
            try setXattr(d + "/l1/data/file", "trusted.vitro", "trusted")
            try setXattr(d + "/l1/etc", "user.dir", "on a directory")
            try setXattr(d + "/l1/data/abs", "trusted.link", "on a symlink")
            try setXattr(d + "/l2/data/new", "user.layer", "two")
            try setXattr(d + "/l3/opq/new", "user.layer", "three")
            var layers: [(tar: String, compressor: String)] = []
            for (n, compressor) in [(1, "gzip"), (2, "gzip"), (3, "zstd")] {
                let tar = "\(d)/l\(n).tar"
                try sh("tar --format=pax --xattrs --xattrs-include='*' --sort=name --numeric-owner -C \(d)/l\(n) -cf \(tar) .")
                layers.append((tar, compressor))
            }
            return layers
        }

        @Test(.enabled(if: hasPeers, "needs docker-registry, skopeo, umoci, zstd and unshare"))
        func aThreeLayerImageFromARegistryUnpacksAsUmociUnpacksIt() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let d = box.dir
                let layout = try OCILayout(dir: d + "/oci")
                let image = try layout.addLayeredImage(try Self.makeLayers(d))
                try layout.tag(manifest: image.manifest, size: image.size, as: "latest")
                try registry.push(layout: layout.dir, tag: "latest", as: "whiteouts:latest")
                let name = "\(registry.host)/whiteouts:latest"

                // vitro: pull, then a run that unpacks the snapshots and shows the
                // container's view of what the layers deleted.
                let pull = try box.vitro(["pull", name])
                #expect(pull.status == 0, "\(pull.stderr)")
                let run = try box.vitro(["run", "--rm", name, "/bin/sh", "-c", "cat /etc/keep; ls /opq /olddir; test -e /etc/gone || echo no-gone"])
                #expect(run.status == 0, "\(run.stderr)")
                #expect(run.stdout == "changed\n/olddir:\nz\n\n/opq:\nnew\n" + "no-gone\n" || run.stdout == "changed\n/opq:\nnew\n\n/olddir:\nz\nno-gone\n", "\(run.stdout)")

                // vitro's snapshots, stacked as the container's overlay (in a mount
                // namespace of this test's own), read by the facts program.
                try Self.factsProgram.write(toFile: d + "/facts.py", atomically: true, encoding: .utf8)
                var parent: Digest?
                var lowers: [String] = []
                for diffID in image.diffIDs {
                    let chain = ChainID.next(parent: parent, diffID: try #require(Digest(diffID)))
                    lowers.append(box.root + "/snapshots/" + chain.hex + "/fs")
                    parent = chain
                }
                let plan = OverlayPlan(layers: lowers, containerDir: d + "/c")
                for dir in plan.directoriesToCreate { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
                let ours = try Self.sh("unshare -m sh -c '\(try plan.shell()) && python3 \(d)/facts.py \(plan.mergedDir)'")

                // umoci: the same image copied out of the registry into an OCI layout and
                // unpacked into a bundle, every layer applied in order onto one rootfs.
                // Debian's umoci (0.4.7) reads no zstd, so skopeo recompresses the top
                // layer as gzip on the way (same tar, same diffID).
                try Self.sh(
                    """
                    skopeo copy --quiet --src-tls-verify=false --dest-compress --dest-compress-format gzip docker://\(name) oci:\(d)/umoci-layout:latest
                    umoci unpack --image \(d)/umoci-layout:latest \(d)/bundle >/dev/null
                    """)
                let theirs = try Self.sh("python3 \(d)/facts.py \(d)/bundle/rootfs")

                let a = try #require(try JSONSerialization.jsonObject(with: Data(ours.utf8)) as? [String: String])
                let b = try #require(try JSONSerialization.jsonObject(with: Data(theirs.utf8)) as? [String: String])
                #expect(b.count > 25, "umoci's rootfs has the image's entries")
                for path in Set(a.keys).union(b.keys).sorted() where path != "." {
                    #expect(a[path] == b[path], "\(path): vitro \(a[path] ?? "missing"), umoci \(b[path] ?? "missing")")
                }
                // The root is the container's upper directory in the overlay (made by
                // the runtime); umoci's is the bundle's rootfs: only its type is the layers'.
                #expect(a["."]?.hasPrefix("dir ") == true && b["."]?.hasPrefix("dir ") == true)

                // Not a vacuous agreement: the things the layers did are there.
                for gone in ["etc/gone", "olddir/x", "olddir/y", "opq/old1", "opq/sub"] { #expect(a[gone] == nil, "\(gone) is deleted") }
                #expect(a["etc/replaced"] == "symlink mode=777 owner=0:0 -> keep")
                #expect(a["data/link"] == "symlink mode=777 owner=0:0 -> l3file")
                #expect(a["data/file"]?.contains("owner=1234:5678") == true && a["data/file"]?.contains("same-file-as=data/hard") == true)
                #expect(a["data/file"]?.contains("user.note=b'a note'") == true && a["data/file"]?.contains("trusted.vitro=b'trusted'") == true)
                #expect(a["data/l3hard"]?.contains("same-file-as=data/l3file") == true)
                #expect(a["data/null"] == "char mode=644 owner=0:0 dev=1:3")
                #expect(a["data/suid"]?.hasPrefix("file mode=4755") == true)
                // A directory that a later layer lists again takes that layer's metadata,
                // xattrs included: layer 2's etc/ has no user.dir.
                #expect(a["etc"] == "dir mode=755 owner=0:0")
            }
        }

        /// The "streamed" notes of a run's trace: layer digest -> error ("" when the
        /// layer was unpacked while it downloaded and published).
        static func streamed(_ trace: String) throws -> [String: String] {
            var out: [String: String] = [:]
            for e in try readTrace(trace) where e["name"] as? String == "streamed" {
                let args = e["args"] as? [String: Any] ?? [:]
                out[args["layer"] as? String ?? "?"] = args["error"] as? String ?? ""
            }
            return out
        }

        /// Chapter 02, "One pass": a run of an image not yet stored unpacks each layer
        /// while it downloads; its snapshots must hold exactly what unpacking the stored
        /// blobs makes (a pull, then a run, in a second state root).
        @Test(.enabled(if: hasPeers, "needs docker-registry, skopeo, umoci, zstd and unshare"))
        func aLayerUnpackedWhileItDownloadsEqualsOneUnpackedFromTheStore() throws {
            try leavesNothing {
                let streamedBox = try Sandbox()
                let storedBox = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let d = streamedBox.dir
                let layout = try OCILayout(dir: d + "/oci")
                let image = try layout.addLayeredImage(try Self.makeLayers(d))
                try layout.tag(manifest: image.manifest, size: image.size, as: "latest")
                try registry.push(layout: layout.dir, tag: "latest", as: "stream:latest")
                let name = "\(registry.host)/stream:latest"

                let trace = d + "/run.jsonl"
                let run = try streamedBox.vitro(["run", "--rm", "--trace", trace, name, "/bin/true"])
                #expect(run.status == 0, "\(run.stderr)")
                let notes = try Self.streamed(trace)
                #expect(notes.count == 3 && notes.values.allSatisfy(\.isEmpty), "every layer unpacked as it downloaded: \(notes)")

                #expect(try storedBox.vitro(["pull", name]).status == 0)
                let storedTrace = storedBox.dir + "/run.jsonl"
                let again = try storedBox.vitro(["run", "--rm", "--trace", storedTrace, name, "/bin/true"])
                #expect(again.status == 0, "\(again.stderr)")
                #expect(try Self.streamed(storedTrace).isEmpty, "a stored image is unpacked from the store")

                try Self.factsProgram.write(toFile: d + "/facts.py", atomically: true, encoding: .utf8)
                var parent: Digest?
                for diffID in image.diffIDs {
                    let chain = ChainID.next(parent: parent, diffID: try #require(Digest(diffID)))
                    parent = chain
                    let a = try Self.sh("python3 \(d)/facts.py \(streamedBox.root)/snapshots/\(chain.hex)/fs")
                    let b = try Self.sh("python3 \(d)/facts.py \(storedBox.root)/snapshots/\(chain.hex)/fs")
                    #expect(a.count > 20 && a == b, "snapshot \(chain.short) differs:\nstreamed \(a)\nstored   \(b)")
                    // Times too, but not of character devices: a whiteout (0:0) is made
                    // at unpack time, and its time is that moment, streamed or not.
                    let mtimes = "find . ! -type c -printf '%P %T@ %y\\n' | sort"
                    let ta = try Self.sh("cd \(streamedBox.root)/snapshots/\(chain.hex)/fs && \(mtimes)").split(separator: "\n")
                    let tb = try Self.sh("cd \(storedBox.root)/snapshots/\(chain.hex)/fs && \(mtimes)").split(separator: "\n")
                    #expect(ta == tb, "mtimes of \(chain.short): streamed \(Set(ta).subtracting(tb).sorted()), stored \(Set(tb).subtracting(ta).sorted())")
                    for file in ["diffid", "parent"] {
                        #expect(
                            (try? String(contentsOfFile: "\(streamedBox.root)/snapshots/\(chain.hex)/\(file)", encoding: .utf8))
                                == (try? String(contentsOfFile: "\(storedBox.root)/snapshots/\(chain.hex)/\(file)", encoding: .utf8)))
                    }
                }
            }
        }

        /// A blob the registry serves corrupted fails a streamed pull naming its digest,
        /// and leaves neither the blob, nor its snapshot, nor a temporary directory.
        @Test(.enabled(if: hasPeers, "needs docker-registry, skopeo, umoci, zstd and unshare"))
        func aCorruptedBlobLeavesNeitherBlobNorSnapshot() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let layout = try OCILayout(dir: box.dir + "/oci")
                let image = try layout.addImage(rootfs: box.rootfs, architecture: "amd64")
                try layout.tag(image, as: "latest")
                try registry.push(layout: layout.dir, tag: "latest", as: "busybox:latest")
                let hex = String(image.layerDigest.dropFirst(7))
                let data = registry.blobData(hex)
                let original = try Data(contentsOf: URL(fileURLWithPath: data))
                var tampered = original
                tampered[tampered.count / 2] ^= 0xff
                try tampered.write(to: URL(fileURLWithPath: data))
                let badHex = try sha256Hex(data)
                let name = "\(registry.host)/busybox:latest"

                let trace = box.dir + "/run.jsonl"
                let o = try box.vitro(["run", "--rm", "--trace", trace, name, "/bin/true"])
                #expect(o.status == 125)
                #expect(o.stderr.contains("blob \(image.layerDigest): digest mismatch (got sha256:\(badHex))"), "\(o.stderr)")
                let store = StoreContents(root: box.root)
                #expect(!store.blobs.contains(hex) && !store.blobs.contains(badHex), "no unverified blob")
                #expect(store.ingest.isEmpty, "no partial download")
                let snapshots = (try? FileManager.default.contentsOfDirectory(atPath: box.root + "/snapshots")) ?? []
                #expect(snapshots.isEmpty, "no snapshot, no temporary directory, no lock: \(snapshots)")
                // The stream did unpack, and was refused at the end.
                #expect(try Self.streamed(trace)[image.layerDigest]?.isEmpty == false)

                try original.write(to: URL(fileURLWithPath: data))
                let repaired = try box.vitro(["run", "--rm", name, "/bin/true"])
                #expect(repaired.status == 0, "\(repaired.stderr)")
            }
        }
    }
}
