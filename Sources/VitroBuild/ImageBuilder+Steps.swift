// Chapter 10: what each instruction does to the build's state. Variables are
// substituted where Docker substitutes them; config instructions go through the same
// parser as `commit -c` (ConfigInstruction, chapter 09), after substitution.

import VitroCommit
import VitroImage
import VitroRuntime
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

extension ImageBuilder {
    func step(_ ins: Instruction) throws(BuildError) {
        if !state.started && ins.keyword == "ARG" { return try metaArg(ins) }
        switch ins.keyword {
        case "FROM": try from(ins)
        case "RUN": try run(ins)
        case "ADD", "COPY": try copy(ins)
        case "MAINTAINER":
            try configStep("MAINTAINER " + ins.arguments, author: ins.arguments) { _ in }
        case "ARG": try arg(ins)
        case "CMD", "ENTRYPOINT": try command(ins)
        case "SHELL":
            guard let list = ShellWords.jsonArray(ins.arguments), !list.isEmpty else {
                throw BuildError("dockerfile line \(ins.line): SHELL requires the arguments to be in JSON form")
            }
            try configStep("SHELL " + jsonText(list)) { $0.setStrings("Shell", list) }
        case "ONBUILD":
            let trigger = ins.arguments.prefix { $0 != " " && $0 != "\t" }.uppercased()
            guard !["ONBUILD", "FROM", "MAINTAINER"].contains(trigger) else {
                throw BuildError("dockerfile line \(ins.line): \(trigger) isn't allowed as an ONBUILD trigger")
            }
            guard Dockerfile.keywords.contains(trigger) else { throw BuildError("dockerfile line \(ins.line): unknown instruction: \(trigger)") }
            let text = trigger + ins.arguments.dropFirst(trigger.count)
            try configStep("ONBUILD " + text) { run in
                let list = (run.strings("OnBuild") ?? []) + [text]
                run.setStrings("OnBuild", list)
            }
        case "HEALTHCHECK":
            throw BuildError("dockerfile line \(ins.line): HEALTHCHECK is not supported by vitro")
        default:
            // ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL.
            try config(ins)
        }
    }

    // MARK: FROM and ARG

    /// `ARG NAME[=default]` before FROM: a value for FROM lines.
    func metaArg(_ ins: Instruction) throws(BuildError) {
        let (name, value) = try argument(ins)
        if let value { metaArgs[name] = value }
    }

    /// The name and value of `ARG NAME[=default]`: --build-arg wins over the default.
    func argument(_ ins: Instruction) throws(BuildError) -> (String, String?) {
        let text = try expand(ins.arguments, line: ins.line)
        let words = try split(text, line: ins.line)
        guard words.count == 1, let word = words.first else { throw BuildError("dockerfile line \(ins.line): ARG requires exactly one argument") }
        let name = String(word.prefix { $0 != "=" })
        let fallback: String? = word.contains("=") ? String(word.dropFirst(name.count + 1)) : nil
        if let given = options.buildArgs.last(where: { $0.0 == name }) {
            usedArgs.insert(name)
            if let v = given.1 { return (name, v) }
            if let env = getenv(name) { return (name, String(cString: env)) }
        }
        return (name, fallback ?? (state.started ? metaArgs[name] : nil))
    }

    func arg(_ ins: Instruction) throws(BuildError) {
        let (name, value) = try argument(ins)
        state.args.append((name, value))
        let shown = value.map { "ARG \(name)=\($0)" } ?? "ARG \(name)"
        try configStep(shown) { _ in }
    }

    func from(_ ins: Instruction) throws(BuildError) {
        let text: String
        do {
            text = try ShellWords.expand(ins.arguments, escape: escape) { self.metaArgs[$0] }
        } catch {
            throw BuildError("dockerfile line \(ins.line): \(error.message)")
        }
        let words = try split(text, line: ins.line)
        guard let name = words.first, words.count == 1 || (words.count == 3 && words[1].lowercased() == "as") else {
            throw BuildError("dockerfile line \(ins.line): FROM requires either one or three arguments")
        }
        // A new stage: nothing of the one before carries over.
        state = State()
        state.started = true
        if name.lowercased() == "scratch" {
            say(" ---> ")
            Tracer.shared.note("base", args: ["image": .string("scratch")], why: "FROM scratch: the image starts empty, with no layer")
            return
        }
        if name == BuiltinImage.name {
            throw BuildError("FROM \(name): the built-in busybox is a directory, not an image in the store; import one first (vitro mkrootfs DIR; tar -C DIR -c . | vitro import - busybox)")
        }
        var found = (try? images.image(name)) ?? nil
        if found == nil {
            var run = RunOptions(rootfs: nil, argv: [])
            run.pull = options.pull
            run.stateRoot = options.stateRoot
            do { try ContainerLifecycle.ensureImage(name, run) } catch { throw BuildError(error.message) }
            found = (try? images.image(name)) ?? nil
        }
        guard let image = found else { throw BuildError("FROM \(name): no such image") }
        Tracer.shared.note(
            "base", args: ["image": .string(name), "id": .string(image.id.description), "layers": .int(Int64(image.config.diffIDs.count))],
            why: "the build starts from this image: its config and layers are the first step's")
        try advance(to: image)
        try triggers(ins)
    }

    /// The base image's ONBUILD instructions run now, as if they followed FROM; the new
    /// image does not inherit them (Docker's rule: a trigger fires one generation down).
    func triggers(_ from: Instruction) throws(BuildError) {
        guard let list = state.run.strings("OnBuild"), !list.isEmpty else { return }
        state.run["OnBuild"] = nil
        say("# Executing \(list.count) build trigger\(list.count == 1 ? "" : "s")")
        for text in list {
            let trigger = try Dockerfile.instruction(text, line: from.line)
            guard !["FROM", "ONBUILD", "MAINTAINER"].contains(trigger.keyword) else {
                throw BuildError("dockerfile line \(from.line): \(trigger.keyword) isn't allowed as an ONBUILD trigger")
            }
            Tracer.shared.note("trigger", args: ["instruction": .string(text)], why: "an ONBUILD instruction of the base image, run right after FROM")
            try step(trigger)
        }
    }

    // MARK: config instructions

    func config(_ ins: Instruction) throws(BuildError) {
        var text = try expand(ins.arguments, line: ins.line)
        if ["USER", "WORKDIR", "STOPSIGNAL"].contains(ins.keyword) {
            text = try split(text, line: ins.line).joined(separator: " ")
        }
        let change: ConfigInstruction
        do {
            change = try ConfigInstruction.parse(ins.keyword + " " + text)
        } catch {
            throw BuildError("dockerfile line \(ins.line): \(error.message)")
        }
        try configStep(ins.keyword + " " + text) { change.apply(to: &$0) }
    }

    /// CMD and ENTRYPOINT: the exec form as written, the shell form through the SHELL.
    func command(_ ins: Instruction) throws(BuildError) {
        let argv = ShellWords.jsonArray(ins.arguments) ?? shell + [ins.arguments]
        let keyword = ins.keyword
        let keepCmd = state.cmdSet
        if keyword == "CMD" { state.cmdSet = true }
        try configStep("\(keyword) \(jsonText(argv))") { run in
            if keyword == "CMD" {
                run.setStrings("Cmd", argv)
            } else {
                run.setStrings("Entrypoint", argv)
                // An ENTRYPOINT resets a CMD inherited from the base image, not one this
                // Dockerfile set (Docker's rule).
                if !keepCmd { run.setStrings("Cmd", nil) }
            }
        }
    }

    var shell: [String] { state.run.strings("Shell") ?? ["/bin/sh", "-c"] }

    func jsonText(_ list: [String]) -> String {
        var w = JSONWriter()
        w.value(.array(list.map(JSONValue.string)))
        return w.text
    }

    func split(_ text: String, line: Int) throws(BuildError) -> [String] {
        do {
            return try ShellWords.split(text, escape: escape)
        } catch {
            throw BuildError("dockerfile line \(line): \(error.message)")
        }
    }

    // MARK: ADD and COPY

    func copy(_ ins: Instruction) throws(BuildError) {
        let keyword = ins.keyword
        let (flags, rest) = ShellWords.flags(ins.arguments)
        var owner: (UInt32, UInt32)?
        var mode: UInt32?
        for (name, value) in flags {
            switch name {
            case "chown": owner = try ownerIDs(try expand(value, line: ins.line), line: ins.line)
            case "chmod":
                guard let m = UInt32(value, radix: 8), m <= 0o7777 else { throw BuildError("dockerfile line \(ins.line): --chmod=\(value): not an octal mode") }
                mode = m
            case "from": throw BuildError("dockerfile line \(ins.line): \(keyword) --from is not supported by vitro (no multi-stage copies)")
            default: throw BuildError("dockerfile line \(ins.line): unknown flag: --\(name)")
            }
        }
        let expanded = try expand(rest, line: ins.line)
        var words: [String]
        if let list = ShellWords.jsonArray(expanded) { words = list } else { words = try split(expanded, line: ins.line) }
        guard words.count >= 2, let dest = words.last else {
            throw BuildError("dockerfile line \(ins.line): \(keyword) requires at least two arguments")
        }
        let plan: ContextCopy
        do {
            plan = try ContextCopy(
                keyword: keyword, context: context, sources: Array(words.dropLast()), dest: dest, workdir: state.run["WorkingDir"]?.string ?? "",
                owner: owner, mode: mode, base: state.base)
        } catch let e as BuildError {
            throw e
        } catch {
            throw BuildError("\(keyword) failed: \(error)")
        }
        let createdBy = "/bin/sh -c #(nop) \(keyword) \(plan.summary) "
        if try cached(createdBy) { return }
        let id: Digest
        do {
            id = try StepImage.make(
                state.base, run: state.run, step: HistoryStep(created: WallTime.now().rfc3339, createdBy: createdBy), author: state.author, images: images
            ) { tar, mirror in try plan.write(to: tar, mirror: mirror) }
        } catch let e as BuildError {
            throw e
        } catch {
            throw BuildError("\(keyword) failed: \(error)")
        }
        try made(id, history: createdBy)
    }

    /// --chown=USER[:GROUP]: numbers, or names from the image's /etc/passwd and /etc/group.
    func ownerIDs(_ spec: String, line: Int) throws(BuildError) -> (UInt32, UInt32) {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard let user = parts.first, !user.isEmpty else { throw BuildError("dockerfile line \(line): --chown=\(spec): no user") }
        func id(_ name: String, file: String, field: Int) throws(BuildError) -> (UInt32, UInt32?) {
            if let n = UInt32(name) { return (n, nil) }
            for dir in state.base.lower.reversed() {
                guard let text = try? Sys.readText(dir + "/" + file) else { continue }
                for l in text.split(separator: "\n") {
                    let f = l.split(separator: ":", omittingEmptySubsequences: false)
                    if f.count > 3, f[0] == name, let n = UInt32(f[2]) { return (n, field == 3 ? UInt32(f[3]) : nil) }
                }
                break
            }
            throw BuildError("dockerfile line \(line): --chown=\(spec): no \(name) in the image's /\(file)")
        }
        let (uid, primary) = try id(user, file: "etc/passwd", field: 3)
        if parts.count == 2 { return (uid, try id(parts[1], file: "etc/group", field: 2).0) }
        return (uid, primary ?? uid)
    }
}
