// Chapter 10: `vitro build`, a Dockerfile run step by step, as Docker's classic builder
// runs it.
//
//   1. read the Dockerfile (from the context, -f FILE, or stdin) and parse all of it: an
//      unknown instruction stops the build, with its line, before anything is made
//   2. FROM: the base image from the store (pulled when missing) or `scratch`
//   3. each further step starts from the image the step before made and makes one:
//        - config steps (ENV, CMD, LABEL, EXPOSE, …) a new config, no layer;
//        - RUN a container of the current image, run by the same pipeline as `vitro
//          run`, whose upper directory becomes the step's layer (then it is removed);
//        - ADD and COPY a layer written from the build context (ContextCopy.swift);
//      a step found in the cache (BuildCache.swift) is not run again
//   4. the last image gets the -t names
//
// Each step is a `build` stage in the trace; a RUN's container adds the stages of a
// run (unpack, namespaces, cgroups, network, exec) in between.

import VitroCommit
import VitroImage
import VitroLayers
import VitroRuntime
import VitroSys
import VitroTrace

public struct BuildOptions: Sendable {
    /// The build context directory.
    public var context: String
    /// -f: the Dockerfile's path (relative to the working directory, as docker takes it);
    /// nil: `Dockerfile` in the context.
    public var dockerfile: String?
    /// `-f -`: the Dockerfile's text, read from stdin by the caller.
    public var dockerfileText: String?
    /// -t, any number.
    public var tags: [Reference] = []
    /// --build-arg K=V (a nil value: taken from vitro's environment, as docker does).
    public var buildArgs: [(String, String?)] = []
    /// --no-cache.
    public var noCache = false
    /// -q: the containers' output goes nowhere.
    public var quiet = false
    /// The whole build is traced into one file: RUN containers write no trace of their own.
    public var traced = false
    public var stateRoot = StateRoot()
    public var pull = PullOptions()

    public init(context: String) { self.context = context }
}

public final class ImageBuilder {
    let options: BuildOptions
    let say: (String) -> Void
    let images: ImageStore
    let cache: BuildCache
    let context: BuildContext
    var escape: Character = "\\"

    /// What the build stands on between steps.
    struct State {
        var base = StepBase(image: nil, lower: [], chainID: nil)
        var run = RunConfig(nil)
        var author: String?
        /// ARGs declared in this stage, in order, with their values (nil: no value).
        var args: [(String, String?)] = []
        var started = false
        /// CMD was set by this Dockerfile (an ENTRYPOINT after it keeps it).
        var cmdSet = false
    }
    var state = State()
    /// ARGs before the first FROM (usable in FROM, and by `ARG NAME` after it).
    var metaArgs: [String: String] = [:]
    var usedArgs: Set<String> = []

    public init(options: BuildOptions, say: @escaping (String) -> Void) throws(BuildError) {
        self.options = options
        self.say = say
        images = ImageStore(root: options.stateRoot.path)
        cache = BuildCache(root: options.stateRoot.path)
        context = try BuildContext(directory: options.context)
    }

    /// The images build steps were made on: without a name, `images` hides them, as
    /// Docker hides its intermediate images.
    public static func intermediateImages(root: String) -> Set<Digest> { BuildCache(root: root).parentImages() }

    /// Runs the build; returns the image id.
    public func build() throws(BuildError) -> Digest {
        let text = try dockerfileText()
        let (instructions, escape) = try Dockerfile.parse(text)
        self.escape = escape
        guard instructions.contains(where: { $0.keyword == "FROM" }) else {
            throw BuildError("no FROM instruction in the Dockerfile: no image was generated")
        }
        if let first = instructions.first(where: { $0.keyword != "ARG" }), first.keyword != "FROM" {
            throw BuildError("dockerfile line \(first.line): \(first.keyword) before FROM (the first instruction must be FROM, after ARGs)")
        }
        for (n, ins) in instructions.enumerated() {
            say("Step \(n + 1)/\(instructions.count) : \(ins.original)")
            Tracer.shared.beginStage(.build)
            Tracer.shared.note(
                "step", args: ["step": .int(Int64(n + 1)), "of": .int(Int64(instructions.count)), "line": .int(Int64(ins.line)), "instruction": .string(ins.original)],
                why: "one Dockerfile instruction: it starts from the image the step before made and makes the next")
            do {
                try step(ins)
                Tracer.shared.endStage(.build)
            } catch {
                if Tracer.shared.stage == .build { Tracer.shared.endStage(.build, error: error.message) }
                throw error
            }
        }
        let unused = options.buildArgs.map(\.0).filter { !usedArgs.contains($0) }
        if !unused.isEmpty { say("[Warning] One or more build-args [\(unused.joined(separator: " "))] were not consumed") }
        guard let final = state.base.image else { throw BuildError("no image was generated: the Dockerfile adds nothing to scratch") }
        guard let manifest = final.records.first?.manifest else { throw BuildError("image \(final.id): no record in the store") }
        say("Successfully built \(final.id.short)")
        for ref in options.tags {
            do {
                try NewImage.record(images, ref: ref, manifest: manifest, config: final.id)
            } catch {
                throw BuildError("tag \(ref.familiarName): \(error)")
            }
            say("Successfully tagged \(ref.familiarName):\(ref.tag ?? "latest")")
        }
        return final.id
    }

    func dockerfileText() throws(BuildError) -> String {
        if let text = options.dockerfileText { return text }
        let path = options.dockerfile ?? context.root + "/Dockerfile"
        do {
            return try Sys.readText(path)
        } catch {
            throw BuildError("read Dockerfile \"\(path)\": \(Errno.message(error.errno))")
        }
    }

    // MARK: the values of variables

    /// A variable as a step sees it: the image's ENV, else a build ARG in force.
    func lookup(_ name: String) -> String? {
        for e in state.run.strings("Env") ?? [] where e.hasPrefix(name + "=") { return String(e.dropFirst(name.count + 1)) }
        if let found = state.args.last(where: { $0.0 == name }) { return found.1 }
        return nil
    }

    func expand(_ text: String, line: Int) throws(BuildError) -> String {
        do {
            return try ShellWords.expand(text, escape: escape) { self.lookup($0) }
        } catch {
            throw BuildError("dockerfile line \(line): \(error.message)")
        }
    }

    /// The build ARGs a RUN sees in its environment (an ENV of the same name wins).
    var argEnvironment: [String] {
        var seen: Set<String> = []
        var out: [String] = []
        for (k, v) in state.args.reversed() where !seen.contains(k) {
            seen.insert(k)
            if let v { out.insert(k + "=" + v, at: 0) }
        }
        let env = Set((state.run.strings("Env") ?? []).map { String($0.prefix { $0 != "=" }) })
        return out.filter { !env.contains(String($0.prefix { $0 != "=" })) }
    }

    // MARK: step results

    /// Says and takes a step's image: the next step starts from it.
    func advance(to image: StoredImage) throws(BuildError) {
        say(" ---> \(image.id.short)")
        do {
            state.base = try StepImage.base(image, images: images)
        } catch {
            throw BuildError("image \(image.id.short): \(error)")
        }
        do {
            let config = try JSONReader.parse(image.configBytes)
            state.run = RunConfig(config["config"])
            state.author = config["author"]?.string
        } catch {
            throw BuildError("image \(image.id.short): config: \(error)")
        }
    }

    /// The step's image from the cache, when there is one.
    func cached(_ history: String) throws(BuildError) -> Bool {
        guard !options.noCache, let hit = cache.lookup(BuildCache.key(parent: state.base.image?.id, step: history), images: images) else { return false }
        say(" ---> Using cache")
        Tracer.shared.note(
            "cache", args: ["image": .string(hit.id.description), "hit": .bool(true)],
            why: "this step was run before on the same image with the same text (and the same files): its image is used again")
        try advance(to: hit)
        return true
    }

    /// Records a step's new image in the cache and goes on from it.
    func made(_ id: Digest, history: String) throws(BuildError) {
        cache.store(BuildCache.key(parent: state.base.image?.id, step: history), image: id, parent: state.base.image?.id)
        let image: StoredImage?
        do { image = try images.image(id: id) } catch { throw BuildError("image \(id.short): \(error)") }
        guard let image else { throw BuildError("image \(id.short): not in the store after it was made") }
        try advance(to: image)
    }

    /// A config-only step: the config changed by `change`, history `history`.
    func configStep(_ history: String, author: String? = nil, _ change: (inout RunConfig) -> Void) throws(BuildError) {
        let newAuthor = author ?? state.author
        let createdBy = "/bin/sh -c #(nop)  " + history
        if try cached(createdBy) { return }
        var run = state.run
        change(&run)
        let id: Digest
        do {
            id = try StepImage.make(
                state.base, run: run, step: HistoryStep(created: WallTime.now().rfc3339, createdBy: createdBy, emptyLayer: true), author: newAuthor,
                images: images)
        } catch {
            throw BuildError("\(history.prefix { $0 != " " }): \(error)")
        }
        try made(id, history: createdBy)
    }
}
