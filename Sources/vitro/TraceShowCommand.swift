// vitro trace show: a recorded trace in the narrated form `run --narrate` prints, each
// line with its time from the start and its seq; filters pick the events.

import VitroCommandLine
import VitroReplay
import VitroSys
import VitroTrace

struct TraceShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Print a trace as narrated text, filtered by stage, group, call, errno or time.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var filters: TraceFilterOptions
    @Flag("-x", "--explain", help: "Each call's reason (why) and the equivalent shell command.") var explain = false
    @Flag("-a", "--args", help: "Each event's arguments and return value in full.") var args = false
    @Flag("--json", help: "Print the chosen events as JSON Lines instead.") var json = false
    @Argument("trace", help: "A trace file, a name from `vitro trace ls`, or a container.") var trace: String

    func run() throws {
        let input = TraceInput.load(trace, root: global.stateRoot)
        let filter = filters.filter()
        let indexes = filter.indexes(in: input.trace)
        if json {
            var out: [UInt8] = []
            for i in indexes {
                out += Array(input.trace.events[i].jsonLine(epochNanos: 0).utf8)
                out.append(10)
            }
            writeAll(1, out)
            return
        }
        let width = Int(Sys.windowSize(1)?.columns ?? 100)
        let text = TraceNarrator(explain: explain, showArgs: args, width: width).narrate(input.trace, indexes: indexes)
        writeAll(1, Array(text.utf8))
        if indexes.isEmpty { writeStderr("vitro: no event of \(input.label) matches the filters (\(input.trace.events.count) events)\n") }
    }
}

/// The filters of `trace show` and `trace export`.
struct TraceFilterOptions: ParsableArguments {
    @Option("--stage", help: "Only these stages (comma-separated or repeated): pull, unpack, rootfs, namespaces, cgroups, network, exec.") var stage: [String] = []
    @Option("--group", help: "Only these groups: namespace, mount, cgroup, netlink, netfilter, capability, seccomp, process, file, registry, layer, packet, stage.") var group: [String] = []
    @Option("--call", help: "Only these calls (or notes): mount, bind, RTM_NEWLINK, ...") var call: [String] = []
    @Option("--errno", help: "Only calls that failed with these errnos (EADDRINUSE, ...), or \"any\".") var errno: [String] = []
    @Option("--since", help: "Only events from this time on, from the start of the trace (250us, 1.5ms, 2s).") var since: String?
    @Option("--until", help: "Only events up to this time, from the start of the trace.") var until: String?

    func filter() -> TraceFilter {
        var f = TraceFilter()
        do {
            f.stages = try TraceFilter.parseStages(stage)
            f.groups = try TraceFilter.parseGroups(group)
            f.calls = TraceFilter.parseList(call)
            f.errnos = TraceFilter.parseList(errno).map { $0 == "any" || $0 == "*" ? $0 : $0.uppercased() }
            f.since = try since.map(TraceFilter.parseTime)
            f.until = try until.map(TraceFilter.parseTime)
        } catch {
            fail(error.message, code: 1)
        }
        if let s = f.since, let u = f.until, s > u { fail("--since \(since ?? "") is after --until \(until ?? "")", code: 1) }
        return f
    }
}
