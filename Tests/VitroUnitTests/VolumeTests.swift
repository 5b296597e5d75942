// Chapter 06, without root: -v, --mount and --volumes-from parsing (Docker's rules and
// one-line errors), the mount plan and its records for vitro-init, the volume store,
// the request's checks and resolution, the resolver that keeps destinations inside
// the root, and copy-up.

import Foundation
import Testing

@testable import VitroExec
@testable import VitroNamespaces
@testable import VitroSys
import VitroTrace
@testable import VitroVolumes

@Suite struct VolumeParsing {
    func message(_ body: () throws -> Any) -> String {
        do {
            _ = try body()
            return "no error"
        } catch {
            return (error as? VolumeError)?.message ?? "\(error)"
        }
    }

    @Test func dashVForms() throws {
        let bind = try VolumeSpec.parseVolume("/srv/www/:/usr/share/html")
        #expect(bind.type == .bind && bind.source == "/srv/www" && bind.destination == "/usr/share/html")
        #expect(bind.createHostPath && !bind.readOnly && bind.propagation == nil && bind.recursive)

        let named = try VolumeSpec.parseVolume("pgdata:/var/lib/postgresql/data:ro")
        #expect(named.type == .volume && named.source == "pgdata" && named.readOnly && named.mode == "ro")

        let anonymous = try VolumeSpec.parseVolume("/data")
        #expect(anonymous.type == .volume && anonymous.source == "" && anonymous.destination == "/data")

        // Docker reads `-v /data:ro` as an anonymous volume with options.
        let anonRO = try VolumeSpec.parseVolume("/data:ro,nocopy")
        #expect(anonRO.type == .volume && anonRO.source == "" && anonRO.readOnly && anonRO.noCopy)

        let prop = try VolumeSpec.parseVolume("/mnt:/mnt:rw,rslave,z")
        #expect(prop.propagation == .rslave && !prop.readOnly && prop.mode == "rw,rslave,z")

        #expect(try VolumeSpec.parseVolume("/a/./b/../c/:/x//y/").destination == "/x/y")
        #expect(try VolumeSpec.parseVolume("/a/./b/../c/:/x").source == "/a/c")
    }

    @Test func dashVErrorsAreOneClearLine() {
        #expect(message { try VolumeSpec.parseVolume("data/sub:/x") }.hasSuffix("includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"))
        #expect(message { try VolumeSpec.parseVolume("./data:/x") }.hasPrefix("invalid volume specification \"./data:/x\": \"./data\" includes invalid characters"))
        #expect(message { try VolumeSpec.parseVolume("/a:/b:bogus") } == "invalid volume specification \"/a:/b:bogus\": unknown option \"bogus\" (ro, rw, nocopy, z, Z, or a propagation: private, rprivate, shared, rshared, slave, rslave)")
        #expect(message { try VolumeSpec.parseVolume("/a:/b:ro,rw") }.contains("\"ro\" and \"rw\" given together"))
        #expect(message { try VolumeSpec.parseVolume("/a:b") } == "invalid volume specification \"/a:b\": the container path \"b\" is not absolute")
        #expect(message { try VolumeSpec.parseVolume("/a:/") }.hasSuffix("the container path cannot be \"/\""))
        #expect(message { try VolumeSpec.parseVolume("/a:/b:ro:x") }.contains("too many colons"))
        #expect(message { try VolumeSpec.parseVolume(":/b") }.contains("the host path or volume name is empty"))
        #expect(message { try VolumeSpec.parseVolume("/a:/b:nocopy") }.contains("\"nocopy\" applies to volumes"))
        #expect(message { try VolumeSpec.parseVolume("v1:/b:rshared") }.contains("applies to bind mounts of a host path only"))
        #expect(message { try VolumeSpec.parseVolume("x:/b") }.contains("is too short"))
        for bad in ["data/sub:/x", "/a:/b:bogus", "/a:b", ":/b"] {
            #expect(!message { try VolumeSpec.parseVolume(bad) }.contains("\n"))
        }
    }

    @Test func dashDashMountForms() throws {
        let b = try VolumeSpec.parseMount("type=bind,src=/host,dst=/ctr,readonly,bind-propagation=rshared")
        #expect(b.type == .bind && b.source == "/host" && b.destination == "/ctr" && b.readOnly && b.propagation == .rshared)
        #expect(!b.createHostPath, "--mount never makes a missing host path")
        #expect(try VolumeSpec.parseMount("type=bind,source=/h,target=/c,readonly=false").readOnly == false)
        #expect(try VolumeSpec.parseMount("type=bind,source=/h,target=/c,bind-recursive=disabled").recursive == false)

        let v = try VolumeSpec.parseMount("source=cache,destination=/cache,volume-nocopy,volume-label=team=web")
        #expect(v.type == .volume && v.source == "cache" && v.noCopy && v.labels == ["team=web"])
        #expect(try VolumeSpec.parseMount("type=volume,dst=/anon").source == "")

        let t = try VolumeSpec.parseMount("type=tmpfs,dst=/run/t,tmpfs-size=64m,tmpfs-mode=1770")
        #expect(t.type == .tmpfs && t.tmpfsSize == 64 << 20 && t.tmpfsMode == 0o1770 && t.tmpfsData == "size=67108864,mode=1770")

        // A quoted CSV field may hold a comma.
        #expect(try VolumeSpec.parseMount("type=bind,\"src=/a,b\",dst=/c").source == "/a,b")
    }

    @Test func dashDashMountErrors() {
        #expect(message { try VolumeSpec.parseMount("type=bind,src=/a,dst=/b,bogus=1") } == "invalid argument \"type=bind,src=/a,dst=/b,bogus=1\" for \"--mount\" flag: unexpected key 'bogus' in 'bogus=1'")
        #expect(message { try VolumeSpec.parseMount("type=nfs,dst=/b") }.hasSuffix("unknown mount type \"nfs\" (bind, volume or tmpfs)"))
        #expect(message { try VolumeSpec.parseMount("type=bind,src=/a") }.hasSuffix("target is required"))
        #expect(message { try VolumeSpec.parseMount("type=bind,dst=/a") }.hasSuffix("source is required for type=bind"))
        #expect(message { try VolumeSpec.parseMount("type=bind,src=rel,dst=/a") }.hasSuffix("the bind source \"rel\" is not an absolute path"))
        #expect(message { try VolumeSpec.parseMount("type=tmpfs,src=x,dst=/a") }.hasSuffix("source is not allowed for type=tmpfs"))
        #expect(message { try VolumeSpec.parseMount("type=bind,src=/a,dst=/b,volume-nocopy") }.hasSuffix("volume-nocopy does not apply to type=bind"))
        #expect(message { try VolumeSpec.parseMount("type=bind,src=/a,dst=/b,bind-propagation=sideways") }.contains("invalid bind-propagation \"sideways\""))
        #expect(message { try VolumeSpec.parseMount("type=volume,src=v1,dst=/b,volume-driver=nfs") }.contains("volume driver \"nfs\" is not available"))
        #expect(message { try VolumeSpec.parseMount("type=tmpfs,dst=/b,tmpfs-size=lots") }.contains("invalid tmpfs-size"))
        #expect(message { try VolumeSpec.parseMount("type=bind,,src=/a,dst=/b") }.contains("invalid field ''"))
        #expect(message { try VolumeSpec.parseMount("type=bind,src=/a,dst=/b,readonly=maybe") }.contains("invalid value for readonly"))
        #expect(message { try VolumeSpec.parseMount("type=bind,src=\"/a,dst=/b") }.contains("unterminated quote"))
    }

    @Test func volumesFromAndNamesAndSizes() throws {
        #expect(try VolumesFrom.parse("dbdata") == VolumesFrom(container: "dbdata"))
        #expect(try VolumesFrom.parse("dbdata:ro") == VolumesFrom(container: "dbdata", mode: .ro))
        #expect(try VolumesFrom.parse("dbdata:rw").mode == .rw)
        #expect(message { try VolumesFrom.parse("dbdata:rx") }.contains("unknown mode \"rx\""))
        #expect(message { try VolumesFrom.parse(":ro") }.contains("no container named"))

        #expect(VolumeName.isValid("my-vol.1_x") && !VolumeName.isValid("a") && !VolumeName.isValid("-x") && !VolumeName.isValid("a/b"))
        #expect(ByteSize.parse("64m") == 64 << 20 && ByteSize.parse("1g") == 1 << 30 && ByteSize.parse("512k") == 512 << 10)
        #expect(ByteSize.parse("4096") == 4096 && ByteSize.parse("x") == nil && ByteSize.parse("-1m") == nil)
        #expect(VolumeSpec.clean("/../a/./b//") == "/a/b" && VolumeSpec.clean("/") == "/")
    }
}

@Suite struct MountPlans {
    func entry(_ dest: String) -> MountPlan.Entry { MountPlan.Entry(kind: .bind, source: "/s" + dest, destination: dest) }

    @Test func parentsAreMountedFirst() {
        let plan = MountPlan(entries: [entry("/a/b/c"), entry("/x"), entry("/a/b"), entry("/a")])
        #expect(plan.entries.map(\.destination) == ["/x", "/a", "/a/b", "/a/b/c"])
    }

    @Test func recordsRoundTripThroughTheInitSpec() throws {
        var ro = entry("/data")
        ro.readOnly = true
        ro.propagation = .rslave
        ro.copyUp = true
        ro.recursive = false
        var file = entry("/etc/app.conf")
        file.file = true
        var tmp = MountPlan.Entry(kind: .tmpfs, source: "tmpfs", destination: "/run/t")
        tmp.data = "size=1048576,mode=1777"
        let plan = MountPlan(entries: [ro, file, tmp])
        #expect(try MountPlan(records: plan.records()) == plan)

        var spec = InitSpec(rootfs: "/r", argv: ["true"], env: [], hostname: "h")
        spec.mounts = plan
        let back = try InitSpec.decode(spec.encode())
        #expect(back == spec && back.mounts.entries.count == 3)
        #expect(throws: VolumeError.self) { try MountPlan(records: ["bind\t/s\trelative\trw\t"]) }
        #expect(throws: VolumeError.self) { try MountPlan(records: ["bind\t/s\t/d\tsideways\t"]) }
    }

    @Test func theRootKeepsTiesToTheHostOnlyWhenAMountAsks() {
        var slave = entry("/s")
        slave.propagation = .rslave
        var shared = entry("/h")
        shared.propagation = .shared
        #expect(MountPlan(entries: [entry("/a")]).rootPropagation == .private)
        #expect(MountPlan(entries: [entry("/a"), slave]).rootPropagation == .slave)
        #expect(MountPlan(entries: [slave, shared]).rootPropagation == .shared)
    }

    @Test func aPlanFromMountPointsKnowsFilesFromDirectories() throws {
        let s = try Scratch()
        let dir = try s.mkdir("dir")
        _ = FileManager.default.createFile(atPath: s.dir + "/file", contents: Data("x".utf8))
        var tmpfs = MountPoint(type: .tmpfs, source: "", destination: "/t")
        tmpfs.tmpfsData = "size=1024"
        let plan = try MountPlan(mountPoints: [
            MountPoint(type: .bind, source: dir, destination: "/d"), MountPoint(type: .bind, source: s.dir + "/file", destination: "/f"), tmpfs,
        ])
        #expect(plan.entries.map(\.file) == [false, true, false])
        #expect(plan.entries.first { $0.destination == "/t" }?.source == "tmpfs")
        #expect { try MountPlan(mountPoints: [MountPoint(type: .bind, source: s.dir + "/gone", destination: "/g")]) } throws: { e in
            (e as? VolumeError)?.message == "bind source path does not exist: \(s.dir)/gone"
        }
    }

    @Test func mountPointsAreDockersMountsAndSurviveTheRecord() throws {
        var b = MountPoint(type: .bind, source: "/h", destination: "/c")
        b.mode = "ro"
        b.rw = false
        var v = MountPoint(type: .volume, name: "data", source: "/var/lib/vitro/volumes/data/_data", destination: "/d")
        v.copyUp = true
        v.anonymous = true
        var w = JSONWriter()
        w.value(b.inspectJSON())
        #expect(w.text == #"{"Type":"bind","Source":"/h","Destination":"/c","Mode":"ro","RW":false,"Propagation":"rprivate"}"#)
        w = JSONWriter()
        w.value(v.inspectJSON())
        #expect(w.text == #"{"Type":"volume","Name":"data","Source":"/var/lib/vitro/volumes/data/_data","Destination":"/d","Driver":"local","Mode":"","RW":true,"Propagation":""}"#)
        var p = b
        p.propagation = .rshared
        for m in [b, v, p] { #expect(try MountPoint(json: m.json()) == m) }
    }

    @Test func mountCallsReadAsShellLines() {
        #expect(Sys.mountShell(source: "/h", target: "/r/data", fstype: nil, flags: [.bind, .recursive], data: nil) == "mount --rbind /h /r/data")
        #expect(Sys.mountShell(source: nil, target: "/r/data", fstype: nil, flags: [.remount, .bind, .readOnly, .noSuid], data: nil) == "mount -o remount,bind,ro,nosuid /r/data")
        #expect(Sys.mountShell(source: nil, target: "/r/data", fstype: nil, flags: Propagation.rslave.flags, data: nil) == "mount --make-rslave /r/data")
        #expect(MountFlags([.noDirAtime, .bind]).names == "MS_NODIRATIME|MS_BIND")
        #expect(ResolveFlags([.inRoot, .noMagicLinks]).names == "RESOLVE_NO_MAGICLINKS|RESOLVE_IN_ROOT")
    }
}

@Suite struct VolumeStores {
    @Test func createLoadListRemove() throws {
        let s = try Scratch()
        let store = VolumeStore(root: s.dir)
        let (named, new) = try store.locked { try store.create("data", labels: [["team", "web"]]) }
        #expect(new && named.name == "data" && named.mountpoint == s.dir + "/volumes/data/_data" && !named.anonymous)
        #expect(Sys.isDirectory(named.mountpoint))
        let (again, second) = try store.create("data")
        #expect(!second && again.labels ?? [] == [["team", "web"]], "an existing volume is used as it is")
        let (anon, _) = try store.create(nil)
        #expect(anon.name.count == 64 && anon.name.allSatisfy(\.isHexDigit) && anon.anonymous)
        #expect(store.list().map(\.name).sorted() == [anon.name, "data"].sorted())
        #expect(throws: VolumeError.self) { try store.create("a/b") }

        var w = JSONWriter()
        w.value(store.load("data")?.inspectJSON() ?? .null)
        #expect(w.text.hasPrefix(#"{"CreatedAt":""#))
        #expect(w.text.hasSuffix(#"","Driver":"local","Labels":{"team":"web"},"Mountpoint":"\#(s.dir)/volumes/data/_data","Name":"data","Options":{},"Scope":"local"}"#))
        _ = FileManager.default.createFile(atPath: named.mountpoint + "/f", contents: Data("12345".utf8))
        #expect(store.size("data") == 5)
        try store.remove("data")
        #expect(store.load("data") == nil)
        #expect { try store.remove("data") } throws: { ($0 as? VolumeError)?.message == "no such volume: data" }
    }

    @Test func requestsAreCheckedBeforeAnythingIsMade() throws {
        let s = try Scratch()
        let missing = try VolumeSpec.parseMount("type=bind,src=\(s.dir)/missing,dst=/x")
        #expect { try MountRequest(specs: [missing]).check() } throws: { e in
            (e as? VolumeError)?.message == "invalid mount config for type \"bind\": bind source path does not exist: \(s.dir)/missing"
        }
        // -v makes a missing host directory, so it passes the check.
        try MountRequest(specs: [try VolumeSpec.parseVolume("\(s.dir)/made:/x")]).check()
        let dup = [try VolumeSpec.parseVolume("/data"), try VolumeSpec.parseVolume("v1:/data")]
        #expect { try MountRequest(specs: dup).check() } throws: { ($0 as? VolumeError)?.message == "duplicate mount point: /data" }

        // Propagation needs a source on a shared (or, for slave, shared or slave) mount.
        let table = MountTable.parse("""
            1 0 8:1 / / rw - ext4 /dev/vda rw
            2 1 0:40 / \(s.dir) rw shared:7 - tmpfs t rw
            """)
        let slave = try VolumeSpec.parseVolume("\(s.dir):/p:rslave")
        try MountRequest(specs: [slave]).check(mounts: table)
        let root = try VolumeSpec.parseVolume("/:/p:rshared")
        #expect { try MountRequest(specs: [root]).check(mounts: table) } throws: { e in
            (e as? VolumeError)?.message.hasPrefix("path / is mounted on / but it is not a shared mount") == true
        }
    }

    @Test func aRequestResolvesInDockersOrderAndUndoesItselfOnFailure() throws {
        let s = try Scratch()
        let store = VolumeStore(root: s.dir + "/state")
        var inherited = MountPoint(type: .volume, name: "shared", source: "/x", destination: "/data")
        inherited.rw = true
        let fromRO = MountRequest.inherit([inherited, MountPoint(type: .bind, source: "/h", destination: "/logs")], VolumesFrom(container: "c", mode: .ro))
        #expect(fromRO.allSatisfy { !$0.rw })
        let request = MountRequest(
            specs: [try VolumeSpec.parseVolume("cache:/cache:ro"), try VolumeSpec.parseVolume("\(s.dir)/made:/data")],
            inherited: fromRO, imageVolumes: ["/cache", "/var/lib/db/", "relative"])
        let points = try store.locked { try request.resolve(in: store) }
        #expect(points.map(\.destination) == ["/cache", "/data", "/logs", "/var/lib/db"])
        #expect(points[0].type == .volume && points[0].name == "cache" && !points[0].rw && points[0].copyUp)
        #expect(points[1].type == .bind && Sys.isDirectory(s.dir + "/made"), "-v made the host directory")
        #expect(points[2].source == "/h" && !points[2].rw)
        #expect(points[3].type == .volume && points[3].name.count == 64 && points[3].copyUp)
        #expect(store.load(points[3].name)?.anonymous == true)
        #expect(points.map(\.anonymous) == [false, false, false, true], "only what the run did not name is the run's own to remove")

        // A request that fails part of the way leaves no new volume behind.
        let before = store.list().map(\.name)
        let failing = MountRequest(specs: [try VolumeSpec.parseVolume("/new-anon"), try VolumeSpec.parseVolume("/proc/self/nope:/x")])
        #expect(throws: (any Error).self) { try store.locked { try failing.resolve(in: store) } }
        #expect(store.list().map(\.name) == before)
    }
}

@Suite struct ContainedDestinations {
    /// A fake rootfs with the links an image (or another container) could plant.
    func rootfs() throws -> (Scratch, String) {
        let s = try Scratch()
        let root = try s.mkdir("rootfs")
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: root + "/toroot", withDestinationPath: "/")
        try fm.createSymbolicLink(atPath: root + "/up", withDestinationPath: "../../../../../tmp")
        try fm.createSymbolicLink(atPath: root + "/abs", withDestinationPath: "/etc")
        try fm.createSymbolicLink(atPath: root + "/dangling", withDestinationPath: "/nowhere")
        return (s, root)
    }

    static let hasOpenat2: Bool = {
        guard let fd = try? Sys.openat2(AT_FDCWD, "/", flags: Sys.O_PATH, resolve: []) else { return false }
        Sys.close(fd)
        return true
    }()

    @Test(.enabled(if: hasOpenat2, "needs openat2(2) (Linux 5.6 or later)"))
    func symlinksAreFollowedOnlyInsideTheRoot() throws {
        let (s, path) = try rootfs()
        _ = s
        let root = try ContainerRoot(path)
        defer { root.close() }
        let real = root.path
        // An absolute link means the container's /etc, not the host's.
        let abs = try #require(try root.open("/abs", create: .none))
        #expect(abs.path == real + "/etc")
        Sys.close(abs.fd)
        // `..` stops at the root: the container's /tmp, made as a mount point.
        let up = try #require(try root.open("/up/inside", create: .directory))
        #expect(up.path == real + "/tmp/inside" && Sys.isDirectory(path + "/tmp/inside"))
        Sys.close(up.fd)
        // A link to / is the container's root itself: never a mount point.
        #expect { try root.open("/toroot", create: .directory) } throws: { e in
            (e as? VolumeError)?.message == "mount destination /toroot resolves to the container's root itself (through a symlink); refusing to mount over it"
        }
        // Below it, the same link leads into the root, not out of it.
        let under = try #require(try root.open("/toroot/etc", create: .none))
        #expect(under.path == real + "/etc")
        Sys.close(under.fd)
        // A link to nothing is refused rather than created through.
        #expect { try root.open("/dangling/x", create: .directory) } throws: { e in
            (e as? VolumeError)?.message.contains("is a symlink or not a directory (it changed meanwhile, or points to nothing inside the container)") == true
        }
        // A file's mount point is made as an empty file.
        let file = try #require(try root.open("/etc/app.conf", create: .file))
        #expect(Sys.fileKind(path + "/etc/app.conf") == .regular && file.path == real + "/etc/app.conf")
        Sys.close(file.fd)
        #expect(try root.open("/missing", create: .none) == nil)
    }

    @Test func withoutOpenat2NoSymlinkIsFollowed() throws {
        let (s, path) = try rootfs()
        _ = s
        let root = try ContainerRoot(path)
        defer { root.close() }
        #expect(try root.walk(["etc"], flags: Sys.O_PATH) != nil)
        #expect(try root.walk(["missing"], flags: Sys.O_PATH) == nil)
        #expect { try root.walk(["abs"], flags: Sys.O_PATH) } throws: { ($0 as? SysError)?.errno == ELOOP }
        #expect { try root.walk(["toroot", "etc"], flags: Sys.O_PATH) } throws: { ($0 as? SysError)?.errno != nil }
    }

    @Test func copyUpFillsAnEmptyVolumeFromTheImage() throws {
        let (s, path) = try rootfs()
        let fm = FileManager.default
        try fm.createDirectory(atPath: path + "/var/lib/app/sub", withIntermediateDirectories: true)
        try "config\n".write(toFile: path + "/var/lib/app/app.conf", atomically: false, encoding: .utf8)
        try "deep\n".write(toFile: path + "/var/lib/app/sub/deep", atomically: false, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path + "/var/lib/app/app.conf")
        try fm.setAttributes([.posixPermissions: 0o750], ofItemAtPath: path + "/var/lib/app")
        try fm.createSymbolicLink(atPath: path + "/var/lib/app/link", withDestinationPath: "/etc/passwd")
        let volume = try s.mkdir("vol/_data")
        let full = try s.mkdir("full/_data")
        try "mine\n".write(toFile: full + "/keep", atomically: false, encoding: .utf8)
        var e = MountPlan.Entry(kind: .bind, source: volume, destination: "/var/lib/app")
        e.copyUp = true
        var f = MountPlan.Entry(kind: .bind, source: full, destination: "/var/lib/app")
        f.copyUp = true
        var missing = MountPlan.Entry(kind: .bind, source: try s.mkdir("other/_data"), destination: "/not/in/image")
        missing.copyUp = true
        let memory = MemorySink()
        Tracer.shared.addSink(memory)
        try MountPlan(entries: [e, missing]).copyUp(rootfs: path)
        #expect(try String(contentsOfFile: volume + "/app.conf", encoding: .utf8) == "config\n")
        #expect(try String(contentsOfFile: volume + "/sub/deep", encoding: .utf8) == "deep\n")
        #expect(try fm.destinationOfSymbolicLink(atPath: volume + "/link") == "/etc/passwd", "a link is copied, not followed")
        #expect(Sys.status(volume + "/app.conf")?.permissions == 0o640 && Sys.status(volume)?.permissions == 0o750)
        #expect(Sys.listDirectory(s.dir + "/other/_data").isEmpty, "nothing in the image there: nothing copied")
        // Other tests trace too: this copy's event is the one into this volume.
        let events = memory.events.filter { $0.name == "copy-up" && $0.args["to"] == .string(volume) }
        #expect(events.count == 1 && events.first?.stage == .volumes && events.first?.args["files"] == .int(4))
        #expect(events.first?.shell == "cp -a \(MountTable.realPath(path))/var/lib/app/. \(volume)/")
        // A volume that holds data already is left as it is.
        try MountPlan(entries: [f]).copyUp(rootfs: path)
        #expect(Sys.listDirectory(full) == ["keep"])
    }
}
