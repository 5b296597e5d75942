// The vitro ↔ vitro-init contract, the mountinfo reader, rootfs checks and PATH lookup.

import Foundation
import Testing

@testable import VitroExec
@testable import VitroNamespaces
@testable import VitroSys

@Suite struct InitContract {
    @Test func specRoundTrips() throws {
        let spec = InitSpec(
            rootfs: "/r", argv: ["/bin/sh", "-c", "echo a=b; exit 3"], env: ["A=1", "B=x=y"], cwd: "/w",
            hostname: "h", learn: true)
        #expect(try InitSpec.decode(spec.encode()) == spec)
        var tty = spec
        tty.tty = true
        #expect(try InitSpec.decode(tty.encode()) == tty)
        #expect(try InitSpec.decode(tty.encode()) != spec)
        // The seccomp program (hex, every byte value), files and masks survive too.
        var full = spec
        full.seccomp = SeccompLoad(bpf: (0..<1024).map { UInt8($0 % 256) }, defaultAction: "SCMP_ACT_ERRNO(1)", rules: 3, architectures: ["x86_64", "x86"], profile: "default")
        full.files = [FileMount(source: "/run/x/hosts", target: "/etc/hosts")]
        full.maskedPaths = ["/proc/kcore", "/proc/keys"]
        #expect(try InitSpec.decode(full.encode()) == full)
        // A record without '=' is refused, wherever it is.
        #expect(throws: InitError.self) { try InitSpec.decode(spec.encode() + Array("stray\0".utf8)) }
    }

    @Test func specWithoutACommandIsRefused() {
        var bytes = InitSpec(rootfs: "/r", argv: ["x"], env: [], hostname: "h").encode()
        bytes = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "arg=x\0", with: "").utf8)
        #expect(throws: InitError.self) { try InitSpec.decode(bytes) }
    }

    @Test func syncMessagesRoundTrip() {
        let all: [SyncMessage] = [.pid(42), .pty, .ready(42), .exec, .joined, .cgroups(["/sys/fs/cgroup/cpu/vitro/x/tasks", "/sys/fs/cgroup/memory/vitro/x/tasks"]), .error(code: 127, message: "exec: \"x\": not found")]
        for m in all { #expect(SyncMessage.decode(m.encode()) == m) }
        #expect(SyncMessage.decode(Array("bogus".utf8)) == nil)
    }

    @Test func mountinfoParses() {
        let text = """
            22 27 0:21 / /proc rw,relatime shared:5 - proc proc rw
            30 27 8:1 /data /mnt/with\\040space rw - ext4 /dev/vda rw
            """
        let t = MountTable.parse(text)
        #expect(t.entries.count == 2)
        #expect(t.entries[0].mountPoint == "/proc" && t.entries[0].fstype == "proc")
        #expect(t.entries[1].mountPoint == "/mnt/with space" && t.entries[1].root == "/data" && t.entries[1].source == "/dev/vda")
    }

    @Test func rootfsValidation() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/ok/proc", withIntermediateDirectories: true)
        try RootfsPlan.validate(dir + "/ok")
        #expect(throws: RootfsError.self) { try RootfsPlan.validate("relative/path") }
        #expect(throws: RootfsError.self) { try RootfsPlan.validate(dir + "/missing") }
        try fm.createDirectory(atPath: dir + "/bad", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: dir + "/bad/dev", withDestinationPath: "/dev")
        #expect { try RootfsPlan.validate(dir + "/bad") } throws: { e in
            (e as? RootfsError)?.message.contains("/dev is a symlink") == true
        }
        #expect(throws: RootfsError.self) { try RootfsPlan.containedPath(dir + "/ok", "proc/../..") }
        try? fm.removeItem(atPath: dir)
    }

    @Test func commandLookupFollowsPath() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: dir + "/a/tool", contents: Data(), attributes: [.posixPermissions: 0o644])
        _ = fm.createFile(atPath: dir + "/b/tool", contents: Data(), attributes: [.posixPermissions: 0o755])
        #expect(try CommandLookup.resolve("tool", path: "\(dir)/a:\(dir)/b") == "\(dir)/b/tool")
        #expect { try CommandLookup.resolve("nope", path: dir + "/a") } throws: { e in
            (e as? InitError)?.code == 127 && (e as? InitError)?.message == "exec: \"nope\": executable file not found in $PATH"
        }
        #expect(CommandLookup.path(in: ["A=1", "PATH=/x"]) == "/x")
        #expect(CommandLookup.path(in: []) == CommandLookup.defaultPath)
        try? fm.removeItem(atPath: dir)
    }
}
