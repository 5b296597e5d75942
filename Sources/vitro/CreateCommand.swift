// vitro create: docker create. The same flags as `run`; the record is made (its name
// claimed, the image pulled, the arguments kept) and nothing runs until `vitro start`,
// which runs it with those arguments exactly as `restart` does.

import VitroCommandLine
import VitroImage
import VitroRuntime

#if canImport(Glibc)
import Glibc
#endif

struct CreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a new container (run's flags); start it with vitro start.",
        helpNames: [.long])

    @Argument("arguments", parsing: .verbatim, help: "run's options, then IMAGE [COMMAND [ARG...]]")
    var arguments: [String] = []

    func run() throws {
        let parsed: RunCommand
        do { parsed = try RunCommand.parse(arguments) } catch { RunCommand.exit(withError: error) }
        var (options, life, image) = parsed.makeOptions()
        life.runArgs = arguments
        life.detach = parsed.detach
        let progress = PullProgressPrinter()
        do {
            if options.rootfs == nil, image != BuiltinImage.name, (try? ImageStore(root: parsed.global.stateRoot.path).image(image)) == nil {
                progress.say("Unable to find image '\(image)' locally")
                try ContainerLifecycle.ensureImage(image, options, observer: progress)
            }
            options.containerID = nil
            writeStdout(try ContainerLifecycle.create(options, life) + "\n")
        } catch {
            fail(error.message, code: error.code)
        }
    }
}
