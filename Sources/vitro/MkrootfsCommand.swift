// vitro mkrootfs: make the built-in busybox root filesystem in a directory, offline.

import VitroCommandLine
import VitroImage

struct MkrootfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkrootfs",
        abstract: "Make a busybox root filesystem from the host's busybox-static, with no network.")

    @Option("--busybox", help: "The busybox binary to use.")
    var busybox: String = BuiltinImage.hostBusybox

    @Argument("directory", help: "Directory to create (must not exist).")
    var directory: String

    func run() throws {
        do {
            try BuiltinImage.makeBusyboxRootfs(at: directory, busybox: busybox)
        } catch {
            fail(String(describing: error))
        }
    }
}
