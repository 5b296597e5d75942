// vitro trace export: a trace in the formats other tools open.
//
//   chrome   Chrome Trace Event JSON: Perfetto UI, chrome://tracing
//   otlp     OpenTelemetry OTLP/JSON, one resourceSpans document: a collector, Jaeger
//   pcapng   the packet events, one interface block per (netns, interface): Wireshark, tshark
//   html     one self-contained page: timeline, event list with filters, details, hops
//
// The filters of `trace show` apply to chrome, otlp and html (and pcapng, whose events
// are the packet events among those chosen).

import VitroCommandLine
import VitroReplay
import VitroTrace

struct TraceExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a trace as Chrome JSON (Perfetto), OTLP JSON, pcapng or a self-contained HTML page.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case chrome, otlp, pcapng, html }

    @OptionGroup var global: GlobalOptions
    @Option("--format", help: "chrome, otlp, pcapng or html.") var format: Format
    @Option("-o", "--output", help: "Write to this file (default: stdout).") var output: String?
    @OptionGroup var filters: TraceFilterOptions
    @Argument("trace", help: "A trace file, a name from `vitro trace ls`, or a container.") var trace: String

    func run() throws {
        let input = TraceInput.load(trace, root: global.stateRoot)
        var t = input.trace
        let filter = filters.filter()
        if !filter.isEmpty { t.events = filter.indexes(in: t).map { t.events[$0] } }
        let bytes: [UInt8]
        switch format {
        case .chrome: bytes = ChromeTraceExport.export(t)
        case .otlp: bytes = OTLPExport.export(t)
        case .html: bytes = HTMLExport.export(t, title: input.label)
        case .pcapng:
            let p = PcapngExport(t)
            if p.packets == 0 {
                fail("\(input.label) has no packet events (group packet) to write as pcapng" + (p.skipped > 0 ? "; \(p.skipped) were not IPv4" : ""), code: 1)
            }
            if p.skipped > 0 { writeStderr("vitro: \(p.skipped) packet events left out (not IPv4 and no captured bytes)\n") }
            bytes = p.bytes
        }
        TraceInput.output(bytes, to: output)
    }
}
