// The golden traces in Traces/ still describe what vitro does (the drift check), and
// every trace line follows the published schema.

import Foundation
import Testing

@testable import VitroTrace

extension Integration {
    @Suite struct GoldenTraces {
        static let traces = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Traces")

        /// Each process's events in order, without seq and without waitpid (when vitro
        /// reaps a child depends on timing, not on what it did), and without the
        /// descriptor number a bpf load returned. With `threads` false, tids are left
        /// out too: which thread unpacked which layer is timing.
        static func perProcess(_ text: String, threads: Bool = true) throws -> [Int32: [String]] {
            var out: [Int32: [String]] = [:]
            for line in text.split(separator: "\n") {
                var e = try TraceEvent(jsonLine: String(line))
                guard e.name != "waitpid" else { continue }
                e.seq = 0
                if !threads { e.tid = e.pid }
                // A loaded BPF program's descriptor number depends on how many
                // descriptors vitro inherited from whoever started it.
                if e.name == "bpf" { e.ret = e.ret.map { $0 < 0 ? $0 : 0 } }
                out[e.pid, default: []].append(e.jsonLine(epochNanos: 0))
            }
            return out
        }

        /// Every event a run records says where in the sources it was made, and that
        /// place is real: the file exists and the line (or the statement it starts) asks
        /// the kernel through VitroSys, records through the tracer, or opens or closes a
        /// stage. A wrapper that forgot to pass its caller's place on would name a line
        /// inside VitroSys, which the last check refuses for kernel calls.
        static func checkCodeLocations(_ trace: String) throws {
            let root = traces.deletingLastPathComponent()
            var files: [String: [Substring]] = [:]
            for line in try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n") {
                let e = try TraceEvent(jsonLine: String(line))
                guard e.phase != .metadata else { continue }
                let code = try #require(e.code, "event \(e.seq) \(e.name) has no code location")
                let parts = code.split(separator: ":")
                let path = String(parts.first ?? ""), number = Int(parts.last ?? "") ?? 0
                if files[path] == nil {
                    files[path] = try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                }
                let lines = files[path] ?? []
                #expect(number >= 1 && number <= lines.count, "\(code): no such line")
                guard number >= 1 && number <= lines.count else { continue }
                let statement = lines[(number - 1)..<min(number + 2, lines.count)].joined(separator: " ")
                let asks = ["Sys.", "Tracer.shared", "begin(", "end(", "layerCall(", "try invoke("].contains { statement.contains($0) }
                #expect(asks, "\(code) (event \(e.seq) \(e.name)) is not a call that records: \(lines[number - 1])")
                if e.phase == .complete && e.group != .packet {
                    #expect(!path.hasPrefix("Sources/VitroSys/"), "\(code): \(e.name) names the wrapper, not its caller")
                }
            }
        }

        /// Expects a normalised fresh trace to match the golden `name`, process by
        /// process. The header is left out: it names the command line, whose paths
        /// differ from run to run.
        static func expectMatches(_ name: String, _ normalized: String, minimum: Int = 1) throws {
            func events(_ text: String) -> String { text.split(separator: "\n").filter { !$0.contains("\"ph\":\"M\"") }.joined(separator: "\n") }
            let want = try perProcess(events(String(contentsOf: traces.appendingPathComponent(name), encoding: .utf8)))
            let got = try perProcess(events(normalized))
            #expect(want.values.reduce(0) { $0 + $1.count } >= minimum, "\(name) has events")
            for pid in want.keys.sorted() {
                let (w, g) = (want[pid] ?? [], got[pid] ?? [])
                let first = zip(w, g).first { $0 != $1 }
                #expect(w == g, "\(name) drifted (run `make golden` and review): first difference:\nwant \(first?.0 ?? "(\(w.count) events)")\ngot  \(first?.1 ?? "(\(g.count) events)")")
            }
        }

        func freshRun(_ box: Sandbox) throws -> String {
            let path = box.dir + "/t.jsonl"
            let o = try box.run(["/bin/sh", "-c", "echo hello"], extra: ["--trace", path])
            #expect(o.status == 0 && o.stdout == "hello\n")
            return path
        }

        /// The same run as scripts/make-golden makes for chapter 04.
        func limitsRun(_ box: Sandbox) throws -> String {
            let path = box.dir + "/limits.jsonl"
            let o = try box.run(["/bin/true"], extra: ["-m", "64m", "--cpus", "0.5", "--pids-limit", "100", "--trace", path])
            #expect(o.status == 0)
            return path
        }

        /// The same run as scripts/make-golden makes for chapter 04's v2 path.
        func v2Run(_ box: Sandbox) throws -> String {
            let path = box.dir + "/v2.jsonl"
            let o = try runProcess(Binaries.vitro, ["run", "--rootfs", box.rootfs, "--trace", path, "/bin/true"], env: box.env.merging(["VITRO_CGROUP": "v2"]) { $1 })
            #expect(o.status == 0, "\(o.stderr)")
            return path
        }

        /// The same run as scripts/make-golden makes for chapter 06.
        func volumesRun(_ box: Sandbox) throws -> String {
            let path = box.dir + "/volumes.jsonl"
            let o = try box.run(["/bin/true"], extra: ["-v", "data:/etc", "-v", "/etc/os-release:/etc/host-os-release:ro", "-v", "/scratch", "--trace", path])
            #expect(o.status == 0, "\(o.stderr)")
            return path
        }

        /// Chapter 08: `vitro exec` joining a running container (each exec keeps its trace).
        func execRun(_ box: Sandbox) throws -> String {
            #expect(try box.vitro(["run", "-d", "--name", "golden", "--rootfs", box.rootfs, "/bin/sh", "-c", "sleep 30"]).status == 0)
            let o = try box.vitro(["exec", "golden", "/bin/true"])
            #expect(o.status == 0, "\(o.stderr)")
            #expect(try box.vitro(["rm", "-f", "golden"]).status == 0)
            let traces = box.root + "/traces"
            let name = try #require(try FileManager.default.contentsOfDirectory(atPath: traces).first { $0.hasPrefix("exec-") })
            return traces + "/" + name
        }

        @Test func goldenTracesMatchAFreshRun() throws {
            try leavesNothing {
                let box = try Sandbox()
                let path = try freshRun(box)
                let limits = try limitsRun(box)
                let volumes = try volumesRun(box)
                let exec = try execRun(box)
                let v2 = try v2Run(box)
                for file in [path, limits, volumes, exec, v2] { try Self.checkCodeLocations(file) }
                for (golden, extra, file) in [("08-lifecycle.jsonl", [String](), exec), ("00-tour.jsonl", [String](), path), ("03-namespaces.jsonl", ["--stage", "namespaces"], path), ("04-cgroups.jsonl", ["--stage", "cgroups"], limits), ("04-cgroups-v2.jsonl", ["--stage", "cgroups"], v2), ("06-volumes.jsonl", ["--stage", "volumes"], volumes), ("07-exec.jsonl", ["--stage", "exec"], path)] {
                    let normalized = try box.vitro(["trace", "normalize"] + extra + [file])
                    #expect(normalized.status == 0, "\(normalized.stderr)")
                    let want = try Self.perProcess(String(contentsOf: Self.traces.appendingPathComponent(golden), encoding: .utf8))
                    let got = try Self.perProcess(normalized.stdout)
                    #expect(got.keys.sorted() == want.keys.sorted(), "\(golden): processes differ")
                    for pid in want.keys.sorted() {
                        let (w, g) = (want[pid] ?? [], got[pid] ?? [])
                        let first = zip(w, g).first { $0 != $1 }
                        #expect(w == g, "\(golden) drifted (run `make golden` and review): pid \(pid) first difference:\nwant \(first?.0 ?? "(\(w.count) events)")\ngot  \(first?.1 ?? "(\(g.count) events)")")
                    }
                }
            }
        }

        /// Chapter 05's golden trace: the network stage of the run scripts/make-golden
        /// makes, in a network namespace of the test's own.
        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter"), "needs nsenter"))
        func networkGoldenTraceMatchesAFreshRun() throws {
            try leavesNothing {
                let lab = try NetLab(golden: true)
                defer { lab.close() }
                let path = lab.box.dir + "/net.jsonl"
                let o = try lab.run(["/bin/true"], extra: ["-p", "8080:80", "--trace", path])
                #expect(o.status == 0, "\(o.stderr)")
                let normalized = try lab.box.vitro(["trace", "normalize", "--stage", "network", path])
                #expect(normalized.status == 0, "\(normalized.stderr)")
                let want = try Self.perProcess(String(contentsOf: Self.traces.appendingPathComponent("05-network.jsonl"), encoding: .utf8))
                let got = try Self.perProcess(normalized.stdout)
                for pid in want.keys.sorted() {
                    let (w, g) = (want[pid] ?? [], got[pid] ?? [])
                    let first = zip(w, g).first { $0 != $1 }
                    #expect(w == g, "05-network.jsonl drifted (run `make golden` and review): first difference:\nwant \(first?.0 ?? "(\(w.count) events)")\ngot  \(first?.1 ?? "(\(g.count) events)")")
                }
            }
        }

        /// Chapters 01 and 02: the pull and unpack stages of a run of scripts/golden-image's
        /// three-layer image from a docker-registry of the test's own, as
        /// scripts/make-golden makes them. The layers download and unpack concurrently
        /// (each unpacked as it arrives, or side by side from the store), so both stages
        /// are compared as multisets: which layer's event comes first is timing.
        @Test(.enabled(if: RegistryConditions.hasTools && FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd"), "needs docker-registry, skopeo and zstd"))
        func imageGoldenTracesMatchAFreshRun() throws {
            try leavesNothing {
                let box = try Sandbox()
                let registry = try TestRegistry()
                defer { registry.stop() }
                let layout = box.dir + "/golden-oci"
                let script = Self.traces.deletingLastPathComponent().appendingPathComponent("scripts/golden-image").path
                let made = try runProcess(script, ["/bin/busybox", layout])
                #expect(made.status == 0, "\(made.stderr)")
                try registry.push(layout: layout, tag: "latest", as: "golden:latest")
                let path = box.dir + "/image.jsonl"
                let o = try box.vitro(["run", "--rm", "--trace", path, "\(registry.host)/golden", "/bin/true"])
                #expect(o.status == 0, "\(o.stderr)")
                for (golden, stage, ordered) in [("01-images.jsonl", "pull", false), ("02-layers.jsonl", "unpack", false)] {
                    let normalized = try box.vitro(["trace", "normalize", "--stage", stage, path])
                    #expect(normalized.status == 0, "\(normalized.stderr)")
                    let want = try Self.perProcess(String(contentsOf: Self.traces.appendingPathComponent(golden), encoding: .utf8), threads: false)
                    let got = try Self.perProcess(normalized.stdout, threads: false)
                    #expect(got.keys.sorted() == want.keys.sorted(), "\(golden): processes differ")
                    for pid in want.keys.sorted() {
                        var (w, g) = (want[pid] ?? [], got[pid] ?? [])
                        if !ordered { (w, g) = (w.sorted(), g.sorted()) }
                        let first = zip(w, g).first { $0 != $1 }
                        #expect(w == g, "\(golden) drifted (run `make golden` and review): pid \(pid) first difference:\nwant \(first?.0 ?? "(\(w.count) events)")\ngot  \(first?.1 ?? "(\(g.count) events)")")
                    }
                }
            }
        }

        static let validator = "/usr/bin/python3"
        static let hasValidator: Bool = {
            guard let o = try? runProcess(validator, ["-c", "import jsonschema"]) else { return false }
            return o.status == 0
        }()

        @Test(.enabled(if: hasValidator, "needs /usr/bin/python3 with jsonschema (apt-get install python3-jsonschema)"))
        func everyTraceLineFollowsTheSchema() throws {
            let box = try Sandbox()
            let fresh = try freshRun(box)
            // A failing run too: its stage end carries the error.
            _ = try box.run(["no-such-command"], extra: ["--trace", box.dir + "/fail.jsonl"])
            let files = [fresh, box.dir + "/fail.jsonl"] + ["00-tour.jsonl", "01-images.jsonl", "02-layers.jsonl", "03-namespaces.jsonl", "04-cgroups.jsonl", "05-network.jsonl", "06-volumes.jsonl", "07-exec.jsonl", "08-lifecycle.jsonl", "10-build.jsonl"].map { Self.traces.appendingPathComponent($0).path }
            let script = """
                import json, sys, jsonschema
                schema = json.load(open(sys.argv[1]))
                v = jsonschema.Draft202012Validator(schema)
                n = 0
                for f in sys.argv[2:]:
                    for i, line in enumerate(open(f)):
                        for err in v.iter_errors(json.loads(line)):
                            print(f"{f}:{i+1}: {err.message}"); sys.exit(1)
                        n += 1
                print(n)
                """
            let o = try runProcess(Self.validator, ["-c", script, Self.traces.appendingPathComponent("trace-event.schema.json").path] + files)
            #expect(o.status == 0, "\(o.stdout)\(o.stderr)")
            #expect((Int(o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 100)
        }
    }
}
