// The trace a `vitro trace` command works on, from what the user typed:
//
//   1. a file that exists (`/tmp/t.jsonl`, `Traces/00-tour.jsonl`)
//   2. a name that `vitro trace ls` prints (`run-0123456789ab.2.jsonl`), or it without
//      `.jsonl`, in the state root's traces directory
//   3. a container (name, id or unique id prefix): its newest run trace (its newest
//      exec trace when it has no run trace)
//   4. the id prefix of a container that is gone (`run --rm`): its newest trace
//
// A file that cannot be read as a trace ends the command with one line naming the file
// and the line (TraceReader's errors), exit status 125.

import VitroReplay
import VitroRuntime
import VitroSys
import VitroTrace

struct TraceInput {
    let path: String
    /// How to call it in output: the name as typed, or the file name.
    let label: String
    let trace: Trace

    static func resolve(_ ref: String, root: StateRoot) -> String {
        if Sys.fileKind(ref) == .regular { return ref }
        let store = TraceStore(root: root)
        for name in [ref, ref + ".jsonl"] where !ref.contains("/") && Sys.fileKind(store.path(name)) == .regular {
            return store.path(name)
        }
        if ref.contains("/") || ref.hasSuffix(".jsonl") { fail("trace \(ref): no such file", code: 1) }
        let containers = ContainerStore(root: root)
        if let record = try? containers.find(ref) {
            let mine = store.traces(of: record.id)
            guard let newest = mine.last(where: { $0.kind == "run" }) ?? mine.last else {
                fail("container \(record.config.name) (\(record.id.prefix(12))) has no trace in \(store.directory) (run with --trace-off, or pruned)", code: 1)
            }
            return store.path(newest.name)
        }
        let prefix = String(ref.prefix(12)).lowercased()
        if prefix.count >= 4, prefix.allSatisfy(\.isHexDigit) {
            let matching = store.list().filter { $0.container.hasPrefix(prefix) }
            if Set(matching.map(\.container)).count > 1 { fail("traces of more than one container match \"\(ref)\": give more of the id", code: 1) }
            if let newest = matching.last(where: { $0.kind == "run" }) ?? matching.last { return store.path(newest.name) }
        }
        fail("no such trace file or container: \(ref)", code: 1)
    }

    static func load(_ ref: String, root: StateRoot) -> TraceInput {
        let path = resolve(ref, root: root)
        let bytes: [UInt8]
        do { bytes = try Sys.readFile(path) } catch { fail("trace \(path): \(error)") }
        do {
            let trace = try TraceReader.read(bytes)
            return TraceInput(path: path, label: path.split(separator: "/").last.map(String.init) ?? path, trace: trace)
        } catch {
            fail("trace \(path): \(error)")
        }
    }

    /// Writes `bytes` to `path` (atomically) or to stdout for nil or "-".
    static func output(_ bytes: [UInt8], to path: String?) {
        guard let path, path != "-" else {
            writeAll(1, bytes)
            return
        }
        do {
            try Sys.writeFileAtomically(path, bytes, durable: false, why: "the exported trace")
        } catch {
            fail("write \(path): \(error)")
        }
    }
}
