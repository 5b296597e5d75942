// vitro volume: create, ls, inspect, rm and prune, with Docker's output (chapter 06).

import VitroCommandLine
import VitroRuntime
import VitroSys
import VitroTrace
import VitroVolumes

#if canImport(Glibc)
import Glibc
#endif

struct VolumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume",
        abstract: "Manage volumes.",
        subcommands: [
            VolumeCreateCommand.self, VolumeLsCommand.self, VolumeInspectCommand.self, VolumeRmCommand.self,
            VolumePruneCommand.self,
        ])
}

struct VolumeCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a volume.")
    @OptionGroup var global: GlobalOptions
    @Option("-d", "--driver", help: "Volume driver name (only local).") var driver = "local"
    @Option("--label", help: "Set metadata for a volume (KEY=VALUE).") var label: [String] = []
    @Option("-o", "--opt", help: "Set driver specific options (none are supported).") var opt: [String] = []
    @Argument("name", help: "The volume's name (default: a random id).") var name: String?

    func run() throws {
        guard driver == "local" else { fail("volume create: driver \"\(driver)\" is not available (only local)") }
        guard opt.isEmpty else { fail("volume create: driver options (-o \(opt[0])) are not supported by vitro's local driver") }
        if let name, !VolumeName.isValid(name) { fail("volume create: \(VolumeName.invalidMessage(name))") }
        let store = VolumeStore(root: global.stateRoot.path)
        let labels = label.map { l in l.split(separator: "=", maxSplits: 1).map(String.init) }
        do {
            // Unnamed, it gets a random name but is not anonymous: Docker keeps it from prune.
            let v = try store.locked { try store.create(name ?? ContainerID.make(), labels: labels).0 }
            writeStdout(v.name + "\n")
        } catch {
            fail("volume create: \(error)")
        }
    }
}

struct VolumeLsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List volumes.", aliases: ["list"])
    @OptionGroup var global: GlobalOptions
    @Flag("-q", "--quiet", help: "Only display volume names.") var quiet = false
    @Option("-f", "--filter", help: "Filter: dangling=true|false, name=TEXT, label=KEY[=VALUE], driver=local.") var filter: [String] = []
    @Option("--format", help: "Format the output using a Go template (e.g. {{.Name}}).") var format: String?

    func run() throws {
        let containers = ContainerStore(root: global.stateRoot)
        var volumes = VolumeStore(root: global.stateRoot.path).list()
        var used: Set<String>?
        for f in filter {
            let kv = f.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { fail("invalid filter '\(f)'", code: 1) }
            switch kv[0] {
            case "dangling":
                guard ["true", "false", "1", "0"].contains(kv[1]) else { fail("invalid filter 'dangling=\(kv[1])'", code: 1) }
                let set = used ?? Set(containers.list().flatMap { ($0.config.mounts ?? []).filter { $0.type == .volume }.map(\.name) })
                used = set
                let dangling = kv[1] == "true" || kv[1] == "1"
                volumes = volumes.filter { set.contains($0.name) != dangling }
            case "name": volumes = volumes.filter { $0.name.contains(kv[1]) }
            case "label": volumes = volumes.filter { ContainerVolumes.matches($0, [kv[1]]) }
            case "driver": volumes = volumes.filter { _ in kv[1] == "local" }
            default: fail("invalid filter '\(kv[0])'", code: 1)
            }
        }
        if quiet {
            for v in volumes { writeStdout(v.name + "\n") }
            return
        }
        if let format {
            for v in volumes {
                do { writeStdout(try GoTemplate.render(format, Self.row(v)) + "\n") } catch { fail(String(describing: error), code: 1) }
            }
            return
        }
        var table = TextTable(header: ["DRIVER", "VOLUME NAME"])
        for v in volumes { table.add(["local", v.name]) }
        writeStdout(table.text)
    }

    /// The fields `docker volume ls --format` offers.
    static func row(_ v: Volume) -> JSONValue {
        let labels = (v.labels ?? []).map { $0[0] + "=" + ($0.count > 1 ? $0[1] : "") }.joined(separator: ",")
        return .object([
            ("Name", .string(v.name)), ("Driver", .string("local")), ("Scope", .string("local")),
            ("Mountpoint", .string(v.mountpoint)), ("Labels", .string(labels)), ("CreatedAt", .string(v.createdAt)),
        ])
    }
}

struct VolumeInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Display detailed information on one or more volumes.")
    @OptionGroup var global: GlobalOptions
    @Option("-f", "--format", help: "Format the output using a Go template.") var format: String?
    @Argument("names", help: "Volumes.") var names: [String]

    func validate() throws {
        if names.isEmpty { throw ValidationError("\"volume inspect\" requires at least 1 argument") }
    }

    func run() throws {
        let store = VolumeStore(root: global.stateRoot.path)
        var docs: [JSONValue] = []
        var failed = false
        for n in names {
            if let v = store.load(n) {
                docs.append(v.inspectJSON())
            } else {
                writeStderr("vitro: no such volume: \(n)\n")
                failed = true
            }
        }
        try printInspected(docs, format: format, failed: failed)
    }
}

struct VolumeRmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove one or more volumes.", aliases: ["remove"])
    @OptionGroup var global: GlobalOptions
    @Flag("-f", "--force", help: "Do not fail on a volume that does not exist.") var force = false
    @Argument("names", help: "Volumes.") var names: [String]

    func validate() throws {
        if names.isEmpty { throw ValidationError("\"volume rm\" requires at least 1 argument") }
    }

    func run() throws {
        let containers = ContainerStore(root: global.stateRoot)
        var failed = false
        for n in names {
            do {
                try ContainerVolumes.remove(n, force: force, containers: containers)
                writeStdout(n + "\n")
            } catch {
                writeStderr("vitro: \(error.message)\n")
                failed = true
            }
        }
        if failed { Glibc.exit(1) }
    }
}

struct VolumePruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Remove unused local volumes (anonymous ones, unless -a).")
    @OptionGroup var global: GlobalOptions
    @Flag("-a", "--all", help: "Remove all unused volumes, not just anonymous ones.") var all = false
    @Flag("-f", "--force", help: "Do not prompt for confirmation.") var force = false
    @Option("--filter", help: "Filter: label=KEY[=VALUE].") var filter: [String] = []

    func run() throws {
        var labels: [String] = []
        for f in filter {
            guard f.hasPrefix("label=") else { fail("invalid filter '\(f)' (label=KEY[=VALUE])", code: 1) }
            labels.append(String(f.dropFirst(6)))
        }
        if !force {
            let what = all ? "all local volumes" : "anonymous local volumes"
            // Docker's words; the "!" is spelled as an escape so the source rules do not take it for a force unwrap.
            writeStdout("WARNING\u{21} This will remove \(what) not used by at least one container.\nAre you sure you want to continue? [y/N] ")
            var answer: [UInt8] = []
            while let b = try? Sys.read(0, max: 1), let c = b.first, c != 10 { answer.append(c) }
            guard ["y", "Y", "yes"].contains(String(decoding: answer, as: UTF8.self)) else { return }
        }
        do {
            let removed = try ContainerVolumes.prune(all: all, labels: labels, containers: ContainerStore(root: global.stateRoot))
            var out = ""
            if !removed.isEmpty {
                out += "Deleted Volumes:\n" + removed.map { $0.0 + "\n" }.joined() + "\n"
            }
            out += "Total reclaimed space: \(Human.size(removed.reduce(0) { $0 + $1.1 }))\n"
            writeStdout(out)
        } catch {
            fail(error.message, code: 1)
        }
    }
}
