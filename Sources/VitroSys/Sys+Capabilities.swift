// Capabilities (capabilities(7)): root's powers, split into some forty pieces. A
// container's root keeps only a few; vitro takes the rest out of the bounding set,
// which caps what any later execve can grant, so the command that runs as root gets
// exactly the kept ones in its permitted and effective sets.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension Sys {
    /// prctl(PR_CAPBSET_DROP): `cap` can never be had again by this process or its
    /// descendants.
    public static func dropBoundingCapability(
        _ cap: Int32, name: String, why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) {
        try invoke(
            file: file, line: line, "prctl", .capability, object: name, args: ["option": .string("PR_CAPBSET_DROP"), "cap": .string(name)], why: why,
            shell: "capsh --drop=\(name.lowercased())"
        ) { Int(vitro_capbset_drop(cap)) }
    }

    /// The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).
    public static func lastCapability(file: StaticString = #fileID, line: UInt = #line) -> Int32 {
        (try? readText("/proc/sys/kernel/cap_last_cap", file: file, line: line)).flatMap { Int32($0.split(separator: "\n").first ?? "") } ?? 40
    }
}
