// Chapter 03: the container's root filesystem inside its new mount namespace.
//
// The order matters and follows runc's rootfs_linux.go:
//  1. make every mount private (`mount --make-rprivate /`), so nothing vitro mounts
//     here propagates back to the host, and no host mount event leaks in;
//  2. bind-mount the rootfs onto itself: pivot_root(2) needs the new root to be a
//     mount point;
//  3. mount /proc (showing the new pid namespace), /sys read-only, a tmpfs /dev with
//     only the safe devices, /dev/pts (a new devpts instance) and /dev/shm;
//  4. pivot_root into the rootfs and lazily unmount the old root, so no path leads
//     back to the host's files;
//  5. mask and write-protect parts of /proc and /sys, and with --read-only the root
//     itself (RootfsPlan+Hardening.swift, chapter 07);
// and only then set the hostname and exec.
//
// Every mount target is checked before use: a rootfs (an image is untrusted input) may
// contain a symlink at /proc or /dev pointing anywhere on the host, and mounting
// through it would mount over the host's directory. `RootfsPlan.containedPath` walks
// each component with lstat and refuses symlinks.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// A device node the container's /dev gets (the same set as runc and Docker).
public struct DeviceNode: Sendable {
    public var name: String
    public var major: UInt32
    public var minor: UInt32
    public var mode: UInt32

    public static let defaults: [DeviceNode] = [
        DeviceNode(name: "null", major: 1, minor: 3, mode: 0o666),
        DeviceNode(name: "zero", major: 1, minor: 5, mode: 0o666),
        DeviceNode(name: "full", major: 1, minor: 7, mode: 0o666),
        DeviceNode(name: "random", major: 1, minor: 8, mode: 0o666),
        DeviceNode(name: "urandom", major: 1, minor: 9, mode: 0o666),
        DeviceNode(name: "tty", major: 5, minor: 0, mode: 0o666),
    ]
}

/// A file of vitro's bind-mounted over a path inside the rootfs (`etc/hosts`).
public struct FileMount: Sendable, Equatable {
    /// Absolute path on the host.
    public var source: String
    /// Path relative to the rootfs.
    public var target: String
    public init(source: String, target: String) {
        self.source = source
        self.target = target
    }
}

/// How step 1 treats the mounts the new namespace copied from the host. Private cuts
/// every tie (the default, as crun); a volume with slave or shared propagation (chapter
/// 06) needs the container's copies to stay tied to the host's.
public enum RootPropagation: String, Sendable {
    /// `mount --make-rprivate /`: no mount event crosses in either direction.
    case `private`
    /// `mount --make-rslave /`: the host's mount events reach the container, none go back.
    case slave
    /// `/` keeps its peers; only the mount that holds the rootfs is made private, so what
    /// pid 1 mounts there stays in the container (runc's rootfsParentMountPrivate).
    case shared
}

public struct RootfsError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How the container's root is put together.
public struct RootfsPlan: Sendable {
    /// Absolute path of the directory that becomes "/".
    public var rootfs: String
    public var devices: [DeviceNode] = DeviceNode.defaults
    /// overlayfs mount data when the root is an image's layers (chapter 02); nil binds
    /// the rootfs directory onto itself instead.
    public var overlay: String?
    /// Files to bind over the image's (step 3b below).
    public var files: [FileMount] = []
    /// Step 1's propagation change (chapter 06 asks for another when a volume needs it).
    public var propagation: RootPropagation = .private
    /// `--tmpfs` mounts (step 3c).
    public var tmpfs: [TmpfsMount] = []
    /// Paths hidden after pivot_root (step 5): Docker's unless --privileged.
    public var maskedPaths: [String] = []
    /// Paths made read-only after pivot_root (step 5).
    public var readonlyPaths: [String] = []
    /// `--read-only`: the root is remounted read-only last.
    public var readOnlyRoot = false

    public init(rootfs: String, files: [FileMount] = []) {
        self.rootfs = rootfs
        self.files = files
    }

    /// Checks, before anything is created, that `rootfs` can be a container's root: an
    /// existing directory, absolute, whose /proc, /sys and /dev are directories or absent
    /// (never symlinks). Throws one clear line.
    public static func validate(_ rootfs: String) throws(RootfsError) {
        guard rootfs.hasPrefix("/") else { throw RootfsError("rootfs \"\(rootfs)\": not an absolute path") }
        switch Sys.fileKind(rootfs) {
        case .missing: throw RootfsError("rootfs \"\(rootfs)\": no such directory")
        case .directory: break
        case .symlink:
            guard Sys.isDirectory(rootfs) else { throw RootfsError("rootfs \"\(rootfs)\": not a directory") }
        default: throw RootfsError("rootfs \"\(rootfs)\": not a directory")
        }
        for dir in ["proc", "sys", "dev", "dev/pts", "dev/shm", "dev/mqueue"] {
            _ = try containedPath(rootfs, dir)
        }
    }

    /// `root/relative`, after checking that no component below `root` is a symlink or
    /// something other than a directory. Missing components are fine (vitro creates them).
    public static func containedPath(_ root: String, _ relative: String) throws(RootfsError) -> String {
        var path = root
        for part in relative.split(separator: "/") {
            guard part != "..", part != "." else {
                throw RootfsError("rootfs path \"/\(relative)\": must not contain . or ..")
            }
            path += "/" + part
            switch Sys.fileKind(path) {
            case .missing: return root + "/" + relative
            case .directory: continue
            case .symlink:
                throw RootfsError("rootfs \"\(root)\": /\(relative) is a symlink (\(path) -> \(Sys.readlink(path) ?? "?")); refusing to mount through it")
            default:
                throw RootfsError("rootfs \"\(root)\": /\(relative) is not a directory")
            }
        }
        return path
    }

    /// Steps 1–4 above, in the calling process, which must already be in a new mount
    /// namespace (and, for /proc to show the container's processes, a new pid namespace
    /// as its pid 1). vitro-init calls the steps one by one, to mount volumes between
    /// them (chapter 06): `mountRoot`, `mountSystem`, `bindFiles`, `mountTmpfs`, `pivot`,
    /// `harden`.
    public func apply() throws {
        try mountRoot()
        try mountSystem()
        try bindFiles()
        try mountTmpfs()
        try pivot()
        try harden()
    }

    /// Steps 1 and 2: propagation, and the rootfs as a mount point.
    public func mountRoot() throws {
        switch propagation {
        case .private:
            try Sys.mount(
                source: nil, target: "/", fstype: nil, flags: [.recursive, .private],
                why: "stop mounts made here from propagating to the host (and the host's from reaching in)")
        case .slave:
            try Sys.mount(
                source: nil, target: "/", fstype: nil, flags: [.recursive, .slave],
                why: "a volume asked for slave propagation: the host's mount events still reach the container's copies, none go back")
        case .shared:
            let parent = RootfsPlan.mountPoint(containing: rootfs)
            try Sys.mount(
                source: nil, target: parent, fstype: nil, flags: [.private],
                why: "a volume asked for shared propagation, so / keeps its peers; the mount holding the rootfs goes private, so what is mounted in the rootfs stays in the container")
        }
        if let overlay {
            try Sys.mount(
                source: "overlay", target: rootfs, fstype: "overlay", flags: [], data: overlay,
                why: "stack the image's layers read-only under the container's own writable layer; pivot_root needs this mount point")
        } else {
            try Sys.mount(
                source: rootfs, target: rootfs, fstype: nil, flags: [.bind, .recursive],
                why: "pivot_root needs the new root to be a mount point, so bind the rootfs onto itself")
        }
    }

    /// Step 3: /proc, /sys and /dev.
    public func mountSystem() throws {
        try mountKernelFilesystems()
        try populateDev()
    }

    /// The mount point of the mount that holds `path`, from /proc/self/mountinfo.
    static func mountPoint(containing path: String) -> String {
        MountTable.of(pid: "self").entry(containing: path)?.mountPoint ?? "/"
    }

    /// Step 3b: /etc/hosts, /etc/hostname and /etc/resolv.conf (chapter 05), bound from
    /// the container's state directory over the image's, as Docker does. The parent
    /// directories are checked like every mount target, and the file itself must not
    /// be a symlink: the bind would land wherever it points. A missing file is created
    /// empty, as a mount point.
    public func bindFiles() throws {
        for f in files {
            let parent = f.target.split(separator: "/").dropLast().joined(separator: "/")
            if !parent.isEmpty {
                let dir = try RootfsPlan.containedPath(rootfs, parent)
                if Sys.fileKind(dir) == .missing { try Sys.mkdirAll(dir, group: .mount, why: "the mount point's directory") }
            }
            let path = rootfs + "/" + f.target
            switch Sys.fileKind(path) {
            case .regular: break
            case .missing:
                // Not O_EXCL: containers sharing a --rootfs may make the same mount point at
                // once. O_NOFOLLOW still refuses a symlink put there meanwhile (ELOOP).
                let fd = try Sys.open(path, flags: O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode: 0o644, why: "an empty file to mount /\(f.target) on")
                Sys.close(fd)
            case .symlink:
                throw RootfsError("rootfs \"\(rootfs)\": /\(f.target) is a symlink (-> \(Sys.readlink(path) ?? "?")); refusing to mount through it")
            default:
                throw RootfsError("rootfs \"\(rootfs)\": /\(f.target) is not a regular file")
            }
            try Sys.mount(source: f.source, target: path, fstype: nil, flags: [.bind], why: "vitro's /\(f.target) for this container, over the image's")
        }
    }

    func target(_ relative: String) throws -> String {
        let path = try RootfsPlan.containedPath(rootfs, relative)
        try Sys.mkdir(path, mode: 0o755, existOK: true, group: .mount, why: "a mount point must exist")
        return path
    }

    func mountKernelFilesystems() throws {
        try Sys.mount(
            source: "proc", target: try target("proc"), fstype: "proc", flags: [.noSuid, .noDev, .noExec],
            why: "a procfs mounted from inside the new pid namespace lists only the container's processes")
        try Sys.mount(
            source: "sysfs", target: try target("sys"), fstype: "sysfs", flags: [.noSuid, .noDev, .noExec, .readOnly],
            why: "sysfs shows the container's own network devices; read-only so it cannot change host settings")
        try Sys.mount(
            source: "tmpfs", target: try target("dev"), fstype: "tmpfs", flags: [.noSuid, .strictAtime],
            data: "mode=755,size=65536k",
            why: "a fresh /dev holds only the device nodes a container should reach, not the host's disks")
    }

    func populateDev() throws {
        let dev = try RootfsPlan.containedPath(rootfs, "dev")
        for d in devices {
            try Sys.mknodChar(
                dev + "/" + d.name, mode: mode_t(d.mode), major: d.major, minor: d.minor,
                why: "a device on the allowlist every container gets")
        }
        // mknod applies the umask; give each node the mode it must have.
        for d in devices {
            try Sys.chmod(dev + "/" + d.name, mode: mode_t(d.mode), why: "mknod applied the umask; set the mode the device needs")
        }
        try Sys.mount(
            source: "devpts", target: try target("dev/pts"), fstype: "devpts", flags: [.noSuid, .noExec],
            data: "newinstance,ptmxmode=0666,mode=0620,gid=5",
            why: "a private devpts instance: the container's terminals are not the host's")
        try Sys.symlink("pts/ptmx", at: dev + "/ptmx", why: "/dev/ptmx opens the container's own devpts instance")
        try Sys.mount(
            source: "shm", target: try target("dev/shm"), fstype: "tmpfs", flags: [.noSuid, .noDev, .noExec],
            data: "mode=1777,size=65536k", why: "POSIX shared memory for the container alone")
        try Sys.mount(
            source: "mqueue", target: try target("dev/mqueue"), fstype: "mqueue", flags: [.noSuid, .noDev, .noExec],
            why: "POSIX message queues of the container's own IPC namespace")
        var links = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]
        // runc's /dev/core, where the kernel has a /proc/kcore to point at.
        if Sys.fileKind(rootfs + "/proc/kcore") != .missing { links.append(("core", "/proc/kcore")) }
        for (name, to) in links {
            try Sys.symlink(to, at: dev + "/" + name, why: "the conventional /dev/\(name) link programs expect")
        }
    }

    /// The pivot_root(".", ".") idiom (see pivot_root(2), and runc's pivotRoot): the old
    /// root ends up mounted on top of the new one at "/", where "." still finds it, and is
    /// then detached, so no directory to put it in is needed inside the image.
    public func pivot() throws {
        try Sys.chdir(rootfs, why: "pivot_root(\".\", \".\") works on the current directory")
        // "." names the new root's mount, below the old one, so `--make-rslave .` reaches
        // every mount in the new root too. With a shared volume (chapter 06) that would
        // cut its ties to the host; then the old root alone is made a slave, through a
        // descriptor of it taken before the pivot (as runc does).
        let oldRoot = propagation == .shared ? try Sys.open("/", flags: Sys.O_PATH | O_DIRECTORY | O_CLOEXEC, trace: false) : nil
        defer { if let oldRoot { Sys.close(oldRoot) } }
        try Sys.pivotRoot(".", putOld: ".", why: "make the rootfs the root of this mount namespace; the old root is now stacked on top of it at /, to be detached")
        try Sys.mount(
            source: nil, target: ".", via: oldRoot, fstype: nil, flags: [.recursive, .slave],
            why: oldRoot == nil ? "keep the unmount of the old root from propagating anywhere" : "keep the unmount of the old root from propagating anywhere; only the old root, so shared volumes keep their peers")
        try Sys.unmount(".", flags: [.detach], why: "detach the host's root: no path inside leads back to the host's files")
        try Sys.chdir("/", why: "start from the new root")
    }
}

/// Reads /proc/PID/mountinfo: the mounts a process sees, as (mount point, fstype, options).
public struct MountTable: Sendable {
    public struct Entry: Sendable, Equatable {
        public var mountPoint: String
        public var fstype: String
        public var source: String
        public var options: String
        public var root: String
        /// The filesystem's own options (after the dash): a v1 cgroup's controllers.
        public var superOptions: String = ""
        /// The optional fields before the dash: `shared:N`, `master:N` (propagation).
        public var optional: [String] = []
    }
    public var entries: [Entry]

    /// The mount that holds `path`: the longest mount point that is a prefix of its
    /// real path (the missing end of a path that does not exist yet is kept as written),
    /// and of two mounts at one place the later, which covers the other.
    public func entry(containing path: String) -> Entry? {
        let real = MountTable.realPath(path)
        var best: Entry?
        for e in entries {
            let mp = e.mountPoint
            guard real == mp || real.hasPrefix(mp == "/" ? "/" : mp + "/") else { continue }
            if mp.count >= (best?.mountPoint.count ?? 0) { best = e }
        }
        return best
    }

    /// realpath(3) of the deepest part of `path` that exists, with the rest appended.
    public static func realPath(_ path: String) -> String {
        var head = path
        var tail = ""
        while !head.isEmpty {
            if let p = realpath(head, nil) {
                let r = String(cString: p)
                free(p)
                return tail.isEmpty ? r : (r == "/" ? "" : r) + tail
            }
            guard let slash = head.lastIndex(of: "/") else { break }
            tail = String(head[slash...]) + tail
            head = String(head[..<slash])
        }
        return path.hasPrefix("/") && !tail.isEmpty ? tail : path
    }

    public static func of(pid: String) -> MountTable {
        guard let text = try? Sys.readText("/proc/\(pid)/mountinfo") else { return MountTable(entries: []) }
        return parse(text)
    }

    /// mountinfo(5): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER`.
    public static func parse(_ text: String) -> MountTable {
        var text = text
        return text.withUTF8 { parse(bytes: $0) }
    }

    /// Over the bytes: the table is read on every start (cgroup layout, rootfs checks),
    /// and splitting it as Characters cost a quarter of a millisecond for 22 lines.
    static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> MountTable {
        var out: [Entry] = []
        var f: [String] = []
        var i = 0
        while i < b.count {
            f.removeAll(keepingCapacity: true)
            while i < b.count && b[i] != 10 {
                while i < b.count && b[i] == 32 { i += 1 }
                let start = i
                while i < b.count && b[i] != 32 && b[i] != 10 { i += 1 }
                if i > start { f.append(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)) }
            }
            i += 1
            guard f.count >= 10, let dash = f.firstIndex(of: "-"), dash + 2 < f.count else { continue }
            out.append(
                Entry(
                    mountPoint: unescape(f[4]), fstype: f[dash + 1], source: f[dash + 2], options: f[5], root: unescape(f[3]),
                    superOptions: dash + 3 < f.count ? f[dash + 3] : "", optional: dash > 6 ? Array(f[6..<dash]) : []))
        }
        return MountTable(entries: out)
    }

    static func unescape(_ s: String) -> String {
        guard s.utf8.contains(92) else { return s }
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == 92, i + 3 < b.count, let v = UInt8(String(decoding: b[i + 1...i + 3], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
