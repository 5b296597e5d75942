// Chapter 10: RUN, a command in a container of the image so far, whose changes become
// the step's layer.
//
// The container is an ordinary one, made and run by the same pipeline as `vitro run`
// (chapter 08): the step's image is unpacked (its snapshots are already there), the
// namespaces, cgroup and network (none or the bridge, VITRO_NETWORK's default) are made
// and the command runs with the image's environment, user and working directory, plus
// the build's ARGs. The image's ENTRYPOINT is left out, as Docker leaves it out of RUN.
// When the command succeeds, its overlay upper directory is written as the layer (the
// walk of `commit`, chapter 09: whiteouts become `.wh.` entries); either way the
// container is removed, with its mounts, cgroup and directories.

import VitroCommit
import VitroImage
import VitroRuntime
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

/// Says `Running in …` once the step's container has an id.
final class StepContainer: PipelineObserver {
    let say: (String) -> Void
    var id: String?

    init(say: @escaping (String) -> Void) { self.say = say }

    func willBegin(_ stage: Stage, _ context: StageContext) throws {
        guard id == nil else { return }
        id = context.containerID
        say(" ---> Running in \(context.containerID.prefix(12))")
    }

    func didEnd(_ stage: Stage, _ context: StageContext, events: [TraceEvent]) {}
    func containerExited(_ status: ExitStatus, _ context: StageContext) {}
}

extension ImageBuilder {
    func run(_ ins: Instruction) throws(BuildError) {
        guard let image = state.base.image else {
            throw BuildError("dockerfile line \(ins.line): RUN needs a root filesystem: FROM scratch has no files yet")
        }
        let exec = ShellWords.jsonArray(ins.arguments)
        let argv = exec ?? shell + [ins.arguments]
        let args = argEnvironment
        // Docker's history line: the ARGs in force, then the command.
        var createdBy = argv.joined(separator: " ")
        if !args.isEmpty { createdBy = "|\(args.count) " + args.joined(separator: " ") + " " + createdBy }
        if try cached(createdBy) { return }

        var run = RunOptions(rootfs: nil, argv: argv)
        run.image = image.id.description
        run.entrypoint = []
        run.env = args
        run.stateRoot = options.stateRoot
        run.tracedByCaller = options.traced
        guard let null = try? Sys.open("/dev/null", flags: O_RDWR | O_CLOEXEC, trace: false) else { throw BuildError("cannot open /dev/null") }
        defer { Sys.close(null) }
        run.stdio = options.quiet ? [null, null, null] : [null, 1, 2]
        var life = LifecycleOptions()
        life.image = image.id.description
        life.name = "vitro-build-" + ContainerID.make().prefix(12)
        let watcher = StepContainer(say: say)
        let containers = ContainerStore(root: options.stateRoot)

        // The run's own stages (unpack … exec) come between this step's `build` spans.
        Tracer.shared.endStage(.build)
        let code: Int32
        do {
            code = try ContainerLifecycle.runForeground(run, life, observer: watcher)
        } catch {
            Tracer.shared.beginStage(.build)
            removeContainer(life.name, containers)
            throw BuildError("the command '\(argv.joined(separator: " "))' could not start: \(error.message)", code: error.code)
        }
        Tracer.shared.beginStage(.build)
        guard code == 0 else {
            removeContainer(life.name, containers)
            throw BuildError("the command '\(argv.joined(separator: " "))' returned a non-zero code: \(code)", code: code)
        }
        let id: Digest
        do {
            guard let name = life.name else { throw BuildError("bug: the step's container has no name") }
            let record = try containers.find(name)
            let layers = try ContainerCommit.layers(of: record, containers: containers)
            Tracer.shared.note(
                "upper", group: .layer, args: ["container": .string(record.id), "upper": .string(layers.upper)],
                why: "what the command wrote is in the container's overlay upper directory: that directory becomes the step's layer")
            id = try StepImage.make(
                state.base, run: state.run, step: HistoryStep(created: WallTime.now().rfc3339, createdBy: createdBy), author: state.author, images: images
            ) { tar, mirror in
                let writer = LayerWriter(root: layers.upper, mode: .overlayUpper)
                writer.skip = ContainerChanges.mountPoints(upper: layers.upper, lower: LowerView(topFirst: layers.lower.reversed()))
                try writer.write(to: tar, mirror: mirror)
                writer.recordSummary(what: "the step container's upper directory, as one uncompressed tar")
            }
        } catch {
            removeContainer(life.name, containers)
            if let e = error as? BuildError { throw e }
            throw BuildError("RUN: commit of the step's container: \(error)")
        }
        removeContainer(life.name, containers)
        try made(id, history: createdBy)
    }

    /// Removes a step's container, with whatever it left (anonymous volumes too).
    func removeContainer(_ name: String?, _ containers: ContainerStore) {
        guard let name, let r = try? containers.find(name) else { return }
        do {
            try ContainerControl.remove(containers, r, force: true, volumes: true)
            say("Removing intermediate container \(r.id.prefix(12))")
        } catch {
            say("[Warning] could not remove intermediate container \(r.id.prefix(12)): \(error)")
        }
    }
}
