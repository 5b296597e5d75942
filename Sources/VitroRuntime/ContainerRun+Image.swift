// Chapter 08: the first two stages for an image. `pull` fetches the image when the
// store lacks it (chapter 01); `unpack` turns each layer into a snapshot keyed by its
// chain ID, once per layer for every image that shares it (chapter 02), and plans the
// container's overlay: the snapshots read-only below, the container's own upper and
// work directories above, merged at the path that pid 1 will pivot into.

import VitroImage
import VitroLayers
import VitroSys
import VitroTrace

extension ContainerRun {
    /// What the container will run, after the image's config has been applied.
    struct Resolved {
        var argv: [String]
        var env: [String]
        var workdir: String
        /// --user, else the image's User; empty: root.
        var user: String
    }

    /// Pulls (if needed) and unpacks `name`; returns the merged directory.
    func stageImage(_ name: String) throws -> String {
        let store = ImageStore(root: options.stateRoot.path)
        let ref: Reference
        do { ref = try Reference.parse(name) } catch { throw RunError("invalid reference format: \(name): \(error)") }
        var image = try store.image(name)
        if image == nil {
            try begin(.pull)
            do {
                let puller = ImagePuller(store: store, options: options.pull, observer: pullObserver)
                // Layers are unpacked as they download; the unpack stage then finds
                // their snapshots (chapter 02, "One pass").
                puller.streaming = LayerStreamUnpacker(snapshots: SnapshotStore(root: options.stateRoot.path))
                _ = try puller.pull(ref)
                image = try store.image(name)
                end(.pull)
            } catch {
                end(.pull, error: String(describing: error))
                throw RunError("pull \(name): \(error)")
            }
        }
        guard let image else { throw RunError("image \(name): not in the store after pulling it") }
        imageConfig = image.config
        imageID = image.id

        try begin(.unpack)
        do {
            let layers = image.manifest.layers
            let diffIDs = image.config.diffIDs
            guard layers.count == diffIDs.count else {
                throw RunError("image \(name): \(layers.count) layers but \(diffIDs.count) diffIDs in its config")
            }
            let snapshots = SnapshotStore(root: options.stateRoot.path)
            // Each layer into its own snapshot, side by side; those the pull streamed
            // are found already unpacked.
            let dirs = try snapshots.unpackLayers(
                zip(layers, diffIDs).map { layer, diffID in
                    SnapshotStore.LayerSource(name: layer.digest.description, path: store.content.path(of: layer.digest), diffID: diffID)
                }
            ).map(\.fs)
            let containerDir = ContainerStore(root: options.stateRoot).dir(context.containerID)
            let plan = OverlayPlan(layers: dirs, containerDir: containerDir)
            for d in plan.directoriesToCreate {
                try Sys.mkdirAll(d, mode: 0o755, group: .layer, why: "the container's own overlay directories")
            }
            overlayData = try plan.options()
            Tracer.shared.note(
                "overlay", group: .layer, args: ["lowerdir": .list(plan.lowerDirs), "upperdir": .string(plan.upperDir)],
                why: "pid 1 will mount this overlay in its own mount namespace and pivot into it")
            end(.unpack)
            return plan.mergedDir
        } catch let e as RunError {
            end(.unpack, error: e.message)
            throw e
        } catch {
            end(.unpack, error: String(describing: error))
            throw RunError("unpack \(name): \(error)")
        }
    }

    /// The command, environment and working directory: the image's, overridden by
    /// what the user gave (Docker's rules: a command replaces Cmd, Entrypoint stays).
    func resolve(hostname: String) throws -> Resolved {
        let config = imageConfig
        var argv = options.argv
        if let config {
            argv = (options.entrypoint ?? config.entrypoint ?? []) + (argv.isEmpty ? (config.cmd ?? []) : argv)
        }
        guard !argv.isEmpty else { throw RunError("no command specified") }
        let workdir = options.workdir ?? (config?.workingDir.isEmpty == false ? config?.workingDir : nil) ?? "/"
        let user = options.security.user ?? config?.user ?? ""
        return Resolved(
            argv: argv, env: options.environment(hostname: hostname, image: config?.env ?? options.containerEnv), workdir: workdir, user: user)
    }
}
