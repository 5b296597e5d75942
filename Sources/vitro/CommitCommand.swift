// vitro commit: a container's changes (its overlay upper directory) as a new image,
// with the container's command and environment and any -c changes in its config.

import VitroCommandLine
import VitroCommit
import VitroImage
import VitroRuntime
import VitroTrace

struct CommitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit",
        abstract: "Create a new image from a container's changes.",
        discussion: """
            Only the container's upper directory is read; the layer is stored uncompressed \
            (its digest is its diffID) and unpacked into a snapshot in the same pass, so the \
            new image runs without unpacking. -c takes CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, \
            USER, VOLUME, WORKDIR and STOPSIGNAL.
            """)

    @OptionGroup var global: GlobalOptions
    @Option("-a", "--author", help: "Author (e.g. \"John Hannibal Smith <hannibal@a-team.com>\").") var author: String?
    @Option("-c", "--change", help: "Apply a Dockerfile instruction to the image's config. Repeatable.") var change: [String] = []
    @Option("-m", "--message", help: "Commit message.") var message: String?
    @Option("-p", "--pause", help: "Pause the container during commit (true or false).") var pause: String = "true"
    @Flag("--no-snapshot", help: "Do not unpack the layer into a snapshot now (the first run does).") var noSnapshot = false
    @Option("--trace", help: "Write the trace (JSON Lines) to this file.") var trace: String?
    @Argument("container", help: "Container name or id.") var container: String
    @Argument("repository", help: "REPOSITORY[:TAG] for the new image.") var repository: String?

    func run() throws {
        guard let pausing = ["true": true, "false": false, "1": true, "0": false][pause] else { fail("commit: --pause \(pause): true or false") }
        var options = CommitOptions()
        options.author = author
        options.message = message
        options.changes = change
        options.pause = pausing
        options.snapshot = !noSnapshot
        if let repository {
            do { options.reference = try Reference.parse(repository) } catch { fail("commit: invalid reference format: \(repository): \(error)") }
            if options.reference?.digest != nil { fail("commit: \(repository): refusing to create a tag with a digest reference") }
        }
        let store = ContainerStore(root: global.stateRoot)
        let r: ContainerRecord
        do { r = try store.find(container) } catch { fail(error.message, code: 1) }
        let traced = CommandTrace(path: trace, stage: .commit, root: global.stateRoot.path)
        do {
            let result = try ContainerCommit.commit(r, containers: store, options: options)
            traced?.finish()
            print(result.imageID.description)
        } catch {
            traced?.finish(error: String(describing: error))
            fail("commit \(container): \(error)")
        }
    }
}
