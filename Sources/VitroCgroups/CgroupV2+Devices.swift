// Chapter 04: the device allowlist on cgroup v2. There is no devices controller and no
// devices.allow file: vitro turns the rules into an eBPF program (DeviceFilter), loads
// it and attaches it to the container's cgroup directory before pid 1 is moved in, as
// runc does. The program's disassembly goes into the trace event of the load, so a
// trace shows exactly what the kernel will run on every open and mknod of a device.
//
// The attachment, not vitro, keeps the program alive: vitro closes the program's
// descriptor at once, and the kernel frees the program when the cgroup is removed.

import VitroSys
import VitroTrace

extension CgroupV2 {
    func applyDevices(_ access: DeviceAccess) throws {
        switch access {
        case .all:
            Tracer.shared.note(
                "devices", group: .cgroup, args: ["rules": .string("a")],
                why: "--privileged: no device program is attached, so every device may be opened and created; on the other cgroup version: v1 devices.allow a")
        case .rules(let rules):
            let filter = DeviceFilter(rules: rules)
            let name = "vitro_dev_" + id.prefix(12)
            let program = try Sys.loadCgroupDeviceProgram(
                filter.bytes, listing: filter.listing, name: name,
                why: "the device allowlist as an eBPF program (deny a, then \(rules.count) rules; the last that matches decides); on the other cgroup version: v1 devices.deny and devices.allow")
            defer { Sys.close(program) }
            try Sys.attachCgroupDeviceProgram(
                program, cgroup: dir, name: name,
                why: "run it on every open and mknod of a device node by the container's processes; the attachment keeps the program until the cgroup is removed")
        }
    }
}
