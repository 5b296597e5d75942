// vitro inspect: containers (Docker-compatible JSON people template on) and images,
// as `docker inspect` takes either; `-f` formats with a Go template.

import VitroCommandLine
import VitroImage
import VitroNetwork
import VitroRuntime
import VitroTrace

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Return low-level information on containers or images.")
    @OptionGroup var global: GlobalOptions
    @Option("-f", "--format", help: "Format the output using a Go template.") var format: String?
    @Argument("names", help: "Containers or images: names or ids.") var names: [String]

    func validate() throws {
        if names.isEmpty { throw ValidationError("\"inspect\" requires at least 1 argument") }
    }

    func run() throws {
        let containers = ContainerStore(root: global.stateRoot)
        let images = ImageStore(root: global.stateRoot.path)
        let ipam = IPAMStore(directory: global.stateRoot.network).read()
        var docs: [JSONValue] = []
        var failed = false
        for ref in names {
            if let r = try? containers.find(ref) {
                docs.append(ContainerInspect.json(r, store: containers, ipam: ipam))
            } else if let image = try? images.image(ref) {
                docs.append(ImageInspect.json(image))
            } else {
                writeStderr("vitro: no such object: \(ref)\n")
                failed = true
            }
        }
        try printInspected(docs, format: format, failed: failed)
    }
}

/// What `inspect` commands print: each document through `-f`'s Go template, or all of
/// them as one indented JSON array (docker's form). Exit 1 when one was not found.
func printInspected(_ docs: [JSONValue], format: String?, failed: Bool) throws {
    if let format {
        for d in docs {
            do { writeStdout(try GoTemplate.render(format, d) + "\n") } catch { fail(String(describing: error), code: 1) }
        }
    } else {
        writeStdout(ContainerInspect.pretty(.array(docs)) + "\n")
    }
    if failed { throw ExitCode(1) }
}
