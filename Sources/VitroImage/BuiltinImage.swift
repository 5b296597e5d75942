// Chapter 01: the one image vitro can make with no registry and no network.
//
// A container image is, at bottom, a directory tree plus some configuration. Debian's
// busybox-static package ships one statically linked binary that is a shell and some
// 300 other commands; a root filesystem made of that binary, a symlink per command
// (`busybox --install -s` would make the same), /etc/passwd and /etc/group is enough to
// run every command of the tutorial. `learn run` uses it on a fresh machine.
//
// The tree is built in a temporary directory next to its final place and renamed into
// place, so a failure (or two vitro processes racing) never leaves half an image.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public enum BuiltinImage {
    /// The name `vitro run` knows the built-in image by.
    public static let name = "vitro/busybox"

    /// Where Debian's busybox-static puts the binary.
    public static let hostBusybox = "/bin/busybox"

    /// The rootfs of the built-in busybox image under a vitro root, made on first use.
    public static func busyboxRootfs(stateRoot: String) throws -> String {
        let dir = stateRoot + "/builtin/busybox"
        let rootfs = dir + "/rootfs"
        if Sys.isDirectory(rootfs) { return rootfs }
        try Sys.mkdirAll(dir, mode: 0o700, why: "vitro's state directory")
        try makeBusyboxRootfs(at: rootfs)
        return rootfs
    }

    /// Builds a busybox rootfs at `path` (which must not exist).
    public static func makeBusyboxRootfs(at path: String, busybox: String = hostBusybox) throws {
        guard Sys.isExecutableFile(busybox) else {
            throw ImageError("\(busybox): not found; install Debian's busybox-static (apt-get install busybox-static)")
        }
        guard Sys.fileKind(path) == .missing else { throw ImageError("\(path): already exists") }
        let applets = try listApplets(busybox)
        // A short hidden sibling rather than `rootfs.tmp-PID`: every symlink made in it is
        // narrated with its full path, and a long one pushed `learn run` past 80 columns
        // once pids reached five digits.
        let parent = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let tmp = parent + "/.tmp-\(getpid())"
        try? Sys.removeTree(tmp, why: "a leftover from an earlier attempt")
        do {
            try populate(tmp, busybox: busybox, applets: applets)
            try Sys.rename(tmp, to: path, why: "publish the finished tree in one step")
        } catch {
            try? Sys.removeTree(tmp, why: "leave nothing half-made behind")
            throw error
        }
    }

    static func populate(_ root: String, busybox: String, applets: [String]) throws {
        try Sys.mkdir(root, mode: 0o755, why: "the image's root directory")
        for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "var", "proc", "sys", "dev"] {
            try Sys.mkdir(root + "/" + d, mode: d == "root" ? 0o700 : 0o755, why: "a directory of the filesystem hierarchy")
        }
        try Sys.mkdir(root + "/tmp", mode: 0o755, why: "scratch space")
        try Sys.chmod(root + "/tmp", mode: 0o1777, why: "world-writable with the sticky bit, as /tmp is")
        try Sys.copyFile(busybox, to: root + "/bin/busybox", mode: 0o755, why: "the one static binary that is every command")
        var made: Set<String> = ["bin/busybox"]
        for applet in applets {
            let rel = applet.hasPrefix("/") ? String(applet.dropFirst()) : applet
            guard !rel.isEmpty, !made.contains(rel), !rel.split(separator: "/").contains("..") else { continue }
            let parent = rel.split(separator: "/").dropLast().joined(separator: "/")
            if !parent.isEmpty { try Sys.mkdirAll(root + "/" + parent, why: "directory for a busybox command") }
            try Sys.symlink("/bin/busybox", at: root + "/" + rel, why: "busybox picks the command from the name it was called by")
            made.insert(rel)
        }
        // Tutorials written for other images name commands by /bin paths (`/bin/nc -l
        // 4444`), so every command is in /bin as well as at its usual place.
        for applet in applets {
            guard let name = applet.split(separator: "/").last.map(String.init), !name.contains(".."),
                !made.contains("bin/" + name)
            else { continue }
            try Sys.symlink("/bin/busybox", at: root + "/bin/" + name, why: "every command is also in /bin, where older tutorials look for it")
            made.insert("bin/" + name)
        }
        try Sys.writeFile(root + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", why: "user names for ls, id and ps")
        try Sys.writeFile(root + "/etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n", why: "group names; devpts uses gid 5 (tty)")
    }

    /// `busybox --list-full`: every command with its conventional path (usr/bin/wget).
    static func listApplets(_ busybox: String) throws -> [String] {
        let out = try Sys.pipe()
        let null = try Sys.open("/dev/null", flags: O_RDWR | O_CLOEXEC, trace: false)
        defer { Sys.close(null) }
        let pid: pid_t
        do {
            pid = try Sys.spawn(busybox, argv: [busybox, "--list-full"], env: [], fds: [null, out.write, 2], why: "ask busybox which commands it has")
        } catch {
            Sys.close(out.read)
            Sys.close(out.write)
            throw error
        }
        Sys.close(out.write)
        var bytes: [UInt8] = []
        while let chunk = try Sys.read(out.read), !chunk.isEmpty { bytes += chunk }
        Sys.close(out.read)
        let (_, status) = try Sys.waitpid(pid) ?? (pid, .exited(1))
        guard status == .exited(0) else { throw ImageError("\(busybox) --list-full: \(status.text)") }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
