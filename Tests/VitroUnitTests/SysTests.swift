// VitroSys: flags print by name, errors name operation and object, and each wrapper
// records its event, failed or not. No root needed: these calls fail or work the same
// for any user in a directory of the test's own.

import Foundation
import Testing

@testable import VitroSys
@testable import VitroTrace

@Suite struct SysLayer {
    @Test func flagsPrintByName() {
        #expect(MountFlags([.bind, .recursive]).names == "MS_BIND|MS_REC")
        #expect(MountFlags([]).names == "0")
        #expect(MountFlags(rawValue: 1 << 30).names == "0x40000000")
        #expect(NamespaceSet.container.names == "CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWNET|CLONE_NEWCGROUP")
        #expect(UnmountFlags.detach.names == "MNT_DETACH")
    }

    @Test func mountShellLines() {
        #expect(Sys.mountShell(source: nil, target: "/", fstype: nil, flags: [.recursive, .private], data: nil) == "mount --make-rprivate /")
        #expect(Sys.mountShell(source: "/a", target: "/a", fstype: nil, flags: [.bind, .recursive], data: nil) == "mount --rbind /a /a")
        #expect(Sys.mountShell(source: "proc", target: "/r/proc", fstype: "proc", flags: [.noSuid, .noDev, .noExec], data: nil) == "mount -t proc -o nosuid,nodev,noexec proc /r/proc")
        #expect(Sys.mountShell(source: nil, target: "/x y", fstype: nil, flags: [.remount, .bind, .readOnly], data: nil) == "mount -o remount,bind,ro '/x y'")
    }

    @Test func shellQuoting() {
        #expect(Sys.shellQuote("/plain/path") == "/plain/path")
        #expect(Sys.shellQuote("it's") == #"'it'\''s'"#)
        #expect(Sys.shellQuote("") == "''")
    }

    @Test func errorsNameOperationAndObject() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        let mem = MemorySink()
        Tracer.shared.addSink(mem)
        let path = dir + "/missing/child"
        #expect {
            try Sys.mkdir(path, existOK: false, why: "test")
        } throws: { error in
            let e = error as? SysError
            return e?.description == "mkdir \"\(path)\": no such file or directory" && e?.errnoName == "ENOENT"
        }
        let event = mem.events.first { $0.args["path"] == .string(path) }
        #expect(event?.errno == "ENOENT")
        #expect(event?.ret == -1)
        #expect(event?.group == .file)
        #expect(event?.shell == "mkdir -m 755 \(path)")
    }

    @Test func eventsNameTheLineThatCalledTheWrapperNotTheWrapper() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        let mem = MemorySink()
        Tracer.shared.addSink(mem)
        let first = #line + 1
        try Sys.mkdirAll(dir + "/a/b")  // mkdirAll calls mkdir for each missing directory
        try Sys.writeFileAtomically(dir + "/a/f", Array("x".utf8))  // open, write, fsync, rename, fsync of the directory
        try Sys.removeTree(dir)
        let mine = mem.events.filter { e in e.args.items.contains { $0.value.text.hasPrefix(dir) } }
        #expect(mine.count >= 6, "\(mine.map(\.name))")
        for e in mine {
            let code = e.code ?? "(none)"
            let here = (first..<(first + 3)).map { "Sources/VitroUnitTests/SysTests.swift:\($0)" }
            #expect(here.contains(code), "\(e.name) \(e.args.items.first?.value.text ?? ""): code \(code)")
        }
        #expect(Set(mine.compactMap(\.code)).count == 3, "one place per line of this test")
    }

    @Test func writeAndReadAFileAndRemoveATree() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        try Sys.mkdirAll(dir + "/a/b")
        try Sys.writeFile(dir + "/a/b/f", "hello\n")
        #expect(try Sys.readText(dir + "/a/b/f") == "hello\n")
        try Sys.symlink("/", at: dir + "/a/link")
        #expect(Sys.fileKind(dir + "/a/link") == .symlink)
        // Writing through a symlink is refused.
        #expect(throws: SysError.self) { try Sys.writeFile(dir + "/a/link", "x") }
        try Sys.removeTree(dir)
        #expect(Sys.fileKind(dir) == .missing)
        #expect(Sys.isDirectory("/"), "removeTree must not follow the link to /")
    }

    @Test func exitStatusCodes() {
        #expect(ExitStatus.exited(3).code == 3)
        #expect(ExitStatus.signaled(9).code == 137)
        #expect(ExitStatus.signaled(15).text == "killed by SIGTERM")
        #expect(SignalName.number("TERM") == 15)
        #expect(SignalName.number("SIGKILL") == 9)
    }
}
