// Bad input gets one clear line, Docker's exit code, and leaves nothing behind.

import Foundation
import Testing

extension Integration {
    @Suite struct BadInput {
        @Test func rootfsThatDoesNotExist() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.vitro(["run", "--rootfs", box.dir + "/nope", "/bin/true"])
                #expect(o.status == 125)
                #expect(o.stderr == "vitro: rootfs \"\(box.dir)/nope\": no such directory\n")
            }
        }

        @Test func rootfsThatIsAFile() throws {
            try leavesNothing {
                let box = try Sandbox()
                _ = FileManager.default.createFile(atPath: box.dir + "/file", contents: Data("x".utf8))
                let o = try box.vitro(["run", "--rootfs", box.dir + "/file", "/bin/true"])
                #expect(o.status == 125)
                #expect(o.stderr == "vitro: rootfs \"\(box.dir)/file\": not a directory\n")
            }
        }

        @Test func commandNotFoundExits127() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.run(["no-such-command"])
                #expect(o.status == 127)
                #expect(o.stderr == "vitro: exec: \"no-such-command\": executable file not found in $PATH\n")
                let o2 = try box.run(["/bin/no-such"])
                #expect(o2.status == 127)
                #expect(o2.stderr.hasPrefix("vitro: exec: \"/bin/no-such\": no such file or directory"))
            }
        }

        @Test func procThatIsASymlinkIsRefused() throws {
            try leavesNothing {
                let box = try Sandbox()
                let fm = FileManager.default
                try fm.removeItem(atPath: box.rootfs + "/proc")
                try fm.createSymbolicLink(atPath: box.rootfs + "/proc", withDestinationPath: "/tmp")
                let o = try box.run(["/bin/true"])
                #expect(o.status == 125)
                #expect(o.stderr.hasPrefix("vitro: rootfs \"\(box.rootfs)\": /proc is a symlink"))
                #expect(o.stderr.split(separator: "\n").count == 1)
            }
        }

        @Test func mkrootfsWithoutBusyboxLeavesNoDirectory() throws {
            let box = try Sandbox()
            let target = box.dir + "/other"
            let o = try box.vitro(["mkrootfs", "--busybox", box.dir + "/missing-busybox", target])
            #expect(o.status == 125)
            #expect(o.stderr.contains("not found"))
            #expect(!FileManager.default.fileExists(atPath: target))
        }
    }
}
