// mount(2), umount2(2), pivot_root(2): the mount namespace's calls (chapter 03).

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// mount(2). The shell line is what util-linux `mount` would need for the same effect.
    ///
    /// With `via`, the kernel is given `/proc/self/fd/N` instead of `target`: the mount
    /// lands on exactly the object the descriptor holds (a magic link is not resolved
    /// again as a path), however `target`'s components are swapped meanwhile. The trace
    /// still names `target`, which the descriptor was resolved from (chapter 06).
    public static func mount(
        source: String?, target: String, via fd: Int32? = nil, fstype: String?, flags: MountFlags = [],
        data: String? = nil, why: String? = nil, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let kernelTarget = fd.map { "/proc/self/fd/\($0)" } ?? target
        var args: Args = ["target": .string(target)]
        if fd != nil { args.append("via", .string(kernelTarget)) }
        if let source { args.append("source", .string(source)) }
        if let fstype { args.append("fstype", .string(fstype)) }
        args.append("flags", .flags(flags.names))
        if let data { args.append("data", .string(data)) }
        try invoke(
            file: file, line: line, "mount", .mount, object: target, args: args, why: why,
            shell: mountShell(source: source, target: target, fstype: fstype, flags: flags, data: data),
            hint: { e in
                switch e {
                case ENODEV: return "filesystem type \(fstype ?? "?") not available"
                case ENOENT: return "mount point or source does not exist"
                case EPERM: return "needs CAP_SYS_ADMIN in the mount namespace's user namespace"
                case EINVAL where flags.contains(.move) || fstype == nil: return "is the source a mount point?"
                default: return nil
                }
            }
        ) { Int(vitro_mount(source, kernelTarget, fstype, flags.rawValue, data)) }
    }

    static func mountShell(source: String?, target: String, fstype: String?, flags: MountFlags, data: String?)
        -> String
    {
        let t = shellQuote(target)
        let prop = flags.intersection(MountFlags.propagation)
        if !prop.isEmpty && flags.subtracting(prop).subtracting(.recursive).isEmpty {
            let r = flags.contains(.recursive) ? "r" : ""
            let kind =
                prop.contains(.private) ? "private" : prop.contains(.slave) ? "slave"
                : prop.contains(.shared) ? "shared" : "unbindable"
            return "mount --make-\(r)\(kind) \(t)"
        }
        var opts: [String] = []
        if flags.contains(.remount) { opts.append("remount") }
        if flags.contains(.bind) && flags.contains(.remount) { opts.append("bind") }
        if flags.contains(.readOnly) { opts.append("ro") }
        if flags.contains(.noSuid) { opts.append("nosuid") }
        if flags.contains(.noDev) { opts.append("nodev") }
        if flags.contains(.noExec) { opts.append("noexec") }
        if let data, !data.isEmpty { opts.append(data) }
        let o = opts.isEmpty ? "" : " -o " + shellQuote(opts.joined(separator: ","))
        if flags.contains(.bind) && !flags.contains(.remount) {
            let b = flags.contains(.recursive) ? "--rbind" : "--bind"
            return "mount \(b)\(o) \(shellQuote(source ?? "")) \(t)"
        }
        if flags.contains(.move) { return "mount --move \(shellQuote(source ?? "")) \(t)" }
        if flags.contains(.remount) { return "mount\(o) \(t)" }
        return "mount -t \(fstype ?? "none")\(o) \(shellQuote(source ?? "none")) \(t)"
    }

    /// umount2(2).
    public static func unmount(
        _ target: String, flags: UnmountFlags = [], why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        let lazy = flags.contains(.detach) ? "-l " : ""
        try invoke(
            file: file, line: line, "umount2", .mount, object: target,
            args: ["target": .string(target), "flags": .flags(flags.names)], why: why,
            shell: "umount \(lazy)\(shellQuote(target))"
        ) { Int(vitro_umount2(target, flags.rawValue)) }
    }

    /// pivot_root(2): make `newRoot` the root of this mount namespace and put the old
    /// root at `putOld` (which may be "." itself: the old root then sits under the new
    /// one until it is unmounted).
    public static func pivotRoot(
        _ newRoot: String, putOld: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "pivot_root", .mount, object: newRoot,
            args: ["new_root": .string(newRoot), "put_old": .string(putOld)], why: why,
            shell: "pivot_root \(shellQuote(newRoot)) \(shellQuote(putOld))",
            hint: { e in e == EINVAL ? "new root must be a mount point, not on the current root's mount" : nil }
        ) { Int(vitro_pivot_root(newRoot, putOld)) }
    }
}
