// Chapter 07 (in chapter 03's module, because it is part of building the root): what
// Docker does to the root beyond mounting it.
//
//  - `--tmpfs PATH[:OPTIONS]`: a tmpfs at PATH, mounted before pivot_root like every
//    other mount of the container (step 3c);
//  - masked paths: files and directories of /proc and /sys that tell too much about
//    the host (/proc/kcore is the host's memory, /proc/keys its keyrings,
//    /proc/timer_list its timers) are hidden after pivot_root: a file by binding
//    /dev/null over it, a directory by a read-only empty tmpfs (runc's maskPath);
//  - read-only paths: /proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus and /proc/fs
//    are bound onto themselves and remounted read-only, so root inside cannot change
//    kernel settings through them (runc's readonlyPath);
//  - `--read-only`: the root itself is remounted read-only last; /proc, /dev, /sys,
//    the /etc files and any --tmpfs are mounts of their own and keep their modes.
//
// `--privileged` skips the masks and read-only paths, as in Docker.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// A `--tmpfs PATH[:OPTIONS]` mount. OPTIONS are mount(8)'s: flags (ro, nosuid, noexec,
/// nodev and their opposites) and tmpfs data (size=, mode=, uid=, gid=, nr_inodes=).
public struct TmpfsMount: Sendable, Equatable {
    public var target: String
    public var flags: MountFlags
    public var data: String

    /// Docker's defaults for a --tmpfs mount: noexec, nosuid, nodev.
    public static let defaultFlags: MountFlags = [.noExec, .noSuid, .noDev]

    public init(target: String, flags: MountFlags = TmpfsMount.defaultFlags, data: String = "") {
        self.target = target
        self.flags = flags
        self.data = data
    }

    /// "/run", "/run:rw,size=64m,mode=1777". Throws one line on bad input.
    public static func parse(_ text: String) throws(RootfsError) -> TmpfsMount {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let target = parts[0]
        guard target.hasPrefix("/"), target != "/" else {
            throw RootfsError("--tmpfs \(text): the mount point must be an absolute path other than /")
        }
        guard !target.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw RootfsError("--tmpfs \(text): the mount point must not contain . or ..")
        }
        var m = TmpfsMount(target: target)
        var data: [String] = []
        for o in parts.count == 2 ? parts[1].split(separator: ",").map(String.init) : [] {
            switch o {
            case "ro": m.flags.insert(.readOnly)
            case "rw": m.flags.remove(.readOnly)
            case "nosuid": m.flags.insert(.noSuid)
            case "suid": m.flags.remove(.noSuid)
            case "nodev": m.flags.insert(.noDev)
            case "dev": m.flags.remove(.noDev)
            case "noexec": m.flags.insert(.noExec)
            case "exec": m.flags.remove(.noExec)
            case "noatime": m.flags.insert(.noAtime)
            case "relatime": m.flags.insert(.relatime)
            case "strictatime": m.flags.insert(.strictAtime)
            default:
                let key = o.split(separator: "=", maxSplits: 1).first.map(String.init) ?? o
                guard ["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "huge", "mpol"].contains(key), o.contains("=") else {
                    throw RootfsError("--tmpfs \(text): unknown tmpfs option \"\(o)\"")
                }
                data.append(o)
            }
        }
        m.data = data.joined(separator: ",")
        return m
    }

    /// `PATH:OPTIONS` as the spec carries it (flags by name, then data).
    public var text: String {
        var opts: [String] = []
        let names: [(MountFlags, String)] = [(.readOnly, "ro"), (.noSuid, "nosuid"), (.noDev, "nodev"), (.noExec, "noexec"), (.noAtime, "noatime"), (.relatime, "relatime"), (.strictAtime, "strictatime")]
        for (f, n) in names where flags.contains(f) { opts.append(n) }
        if !flags.contains(.readOnly) { opts.insert("rw", at: 0) }
        if !flags.contains(.noSuid) { opts.append("suid") }
        if !flags.contains(.noDev) { opts.append("dev") }
        if !flags.contains(.noExec) { opts.append("exec") }
        if !data.isEmpty { opts.append(data) }
        return target + ":" + opts.joined(separator: ",")
    }
}

extension RootfsPlan {
    /// Docker's masked paths (moby's daemon/pkg/oci/defaults.go, defaultLinuxMaskedPaths).
    public static let dockerMaskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/sched_debug", "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/sys/devices/virtual/powercap",
        "/sys/firmware",
    ]

    /// Docker's read-only paths (the same file, ReadonlyPaths).
    public static let dockerReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// Docker's masked paths on this machine: the list above plus each CPU's
    /// thermal_throttle directory that exists (moby masks those too).
    public static func dockerMasks() -> [String] {
        var out = dockerMaskedPaths
        for cpu in Sys.listDirectory("/sys/devices/system/cpu").sorted() where cpu.hasPrefix("cpu") && cpu.dropFirst(3).allSatisfy(\.isNumber) {
            let p = "/sys/devices/system/cpu/\(cpu)/thermal_throttle"
            if Sys.isDirectory(p) { out.append(p) }
        }
        return out
    }

    /// Step 3c: the --tmpfs mounts, before pivot_root.
    public func mountTmpfs() throws {
        for t in tmpfs {
            let path = try RootfsPlan.containedPath(rootfs, String(t.target.dropFirst()))
            if Sys.fileKind(path) == .missing { try Sys.mkdirAll(path, group: .mount, why: "the --tmpfs mount point") }
            try Sys.mount(
                source: "tmpfs", target: path, fstype: "tmpfs", flags: t.flags, data: t.data.isEmpty ? nil : t.data,
                why: "--tmpfs \(t.target): a fresh in-memory filesystem, writable even on a --read-only root")
        }
    }

    /// Step 5, after pivot_root (paths are the container's): masks, then read-only
    /// paths, then the read-only root.
    public func harden() throws {
        for path in maskedPaths {
            switch Sys.fileKind(path) {
            case .missing: continue
            case .directory:
                try Sys.mount(
                    source: "tmpfs", target: path, fstype: "tmpfs", flags: [.readOnly],
                    why: "mask \(path): an empty read-only directory hides what the host's kernel shows there")
            default:
                try Sys.mount(
                    source: "/dev/null", target: path, fstype: nil, flags: [.bind],
                    why: "mask \(path): /dev/null over it, so reading it gives nothing about the host")
            }
        }
        for path in readonlyPaths where Sys.fileKind(path) != .missing {
            try Sys.mount(
                source: path, target: path, fstype: nil, flags: [.bind, .recursive],
                why: "\(path) becomes a mount of its own, so it can be made read-only alone")
            try Sys.mount(
                source: path, target: path, fstype: nil, flags: [.bind, .remount, .readOnly, .noSuid, .noDev, .noExec],
                why: "read-only \(path): root inside must not change the host kernel's settings through it")
        }
        if readOnlyRoot {
            try Sys.mount(
                source: "/", target: "/", fstype: nil, flags: [.bind, .remount, .readOnly],
                why: "--read-only: the container's root filesystem cannot be written; its own mounts (/proc, /dev, --tmpfs) can")
        }
    }
}
