// vitro stats and vitro update: resource use and limits of running containers.

import VitroCommandLine
import VitroCgroups
import VitroRuntime
import VitroSys
import VitroTrace

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Display a live stream of containers' resource usage.")
    @OptionGroup var global: GlobalOptions
    @Flag("--no-stream", help: "Print one result and stop.") var noStream = false
    @Argument("containers", help: "Containers (default: all running).") var containers: [String] = []

    func run() throws {
        let store = ContainerStore(root: global.stateRoot)
        var records: [ContainerRecord]
        if containers.isEmpty {
            records = store.list().filter { store.liveStatus($0) == .running }
        } else {
            records = []
            for c in containers {
                do { records.append(try store.find(c)) } catch { fail(error.message, code: 1) }
            }
        }
        var previous: [String: ContainerSample] = [:]
        for r in records { previous[r.id] = try? ContainerStats.sample(r) }
        while true {
            Sys.sleep(milliseconds: noStream ? 500 : 1000)
            var rows = [["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "PIDS"]]
            for r in records {
                guard store.liveStatus(r) == .running, let now = try? ContainerStats.sample(r) else {
                    rows.append([String(r.id.prefix(12)), r.config.name, "--", "-- / --", "--", "-- / --", "--"])
                    continue
                }
                let before = previous[r.id] ?? now
                let wall = Double(now.at &- before.at)
                let cpu = wall > 0 ? Double(now.cgroup.cpuNanos &- before.cgroup.cpuNanos) / wall * 100 : 0
                var limit = now.cgroup.memoryLimit ?? 0
                let host = ContainerStats.hostMemory()
                if limit <= 0 || limit > host { limit = host }
                let memPct = limit > 0 ? Double(now.cgroup.memoryUsage) / Double(limit) * 100 : 0
                rows.append([
                    String(r.id.prefix(12)), r.config.name, percent(cpu),
                    binary(now.cgroup.memoryUsage) + " / " + binary(limit), percent(memPct),
                    decimal(now.netRx) + " / " + decimal(now.netTx), String(now.cgroup.pids),
                ])
                previous[r.id] = now
            }
            if !noStream { writeStdout("\u{1B}[2J\u{1B}[H") }
            writeStdout(table(rows))
            if noStream { return }
        }
    }

    func percent(_ v: Double) -> String {
        let hundredths = Int((v * 100).rounded())
        let frac = hundredths % 100
        return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)%"
    }

    /// 1.5MiB, as docker stats writes memory.
    func binary(_ n: Int64) -> String { scaled(Double(n), 1024, ["B", "KiB", "MiB", "GiB", "TiB"]) }
    /// 1.2kB, as docker stats writes network bytes.
    func decimal(_ n: Int64) -> String { scaled(Double(n), 1000, ["B", "kB", "MB", "GB", "TB"]) }

    func scaled(_ v: Double, _ base: Double, _ units: [String]) -> String {
        var x = v
        var i = 0
        while x >= base, i < units.count - 1 { x /= base; i += 1 }
        let tenths = Int((x * 100).rounded())
        let s = i == 0 ? String(Int(x)) : "\(tenths / 100).\(tenths % 100 < 10 ? "0" : "")\(tenths % 100)"
        return s + units[i]
    }
}

struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Update the resource limits of running containers.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Resource limits (cgroups)") var limits: LimitOptions
    @Argument("containers", help: "Containers.") var containers: [String]

    func run() throws {
        let parsed: CgroupLimits
        do { parsed = try limits.parse() } catch { fail(error.message) }
        guard !parsed.isEmpty else { fail("you must provide one or more flags when using this command") }
        eachContainer(containers, global.stateRoot) { store, r in
            guard store.liveStatus(r) == .running else { throw RunError("container \(r.id.prefix(12)) is not running") }
            try ContainerStats.update(r, parsed)
        }
    }
}
