// Chapter 02 as root: whiteouts and opaque directories in overlayfs form, checked by
// mounting the snapshots with overlayfs (in a mount namespace of the test's own, so
// the host's mount table never changes); and a real-world check: layers made by GNU
// tar (pax with xattrs, and its default GNU format), unpacked by vitro and by `tar -x`,
// compared entry by entry.

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
    }
}
