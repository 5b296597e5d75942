// The normaliser's rule for chapters 01 and 02: a test registry's loopback port and the
// snapshot store's temporary directory names differ from run to run; a remote
// registry's port does not, and stays.

import Testing

import VitroReplay
import VitroTrace

@Suite struct ImageTraceNormalizing {
    static func event(_ name: String, _ group: Group, _ args: Args, why: String? = nil, shell: String? = nil) -> TraceEvent {
        TraceEvent(tsNanos: 5, durNanos: 1, phase: .complete, name: name, group: group, stage: .pull, pid: 4242, tid: 4242, args: args, why: why, shell: shell)
    }

    @Test func loopbackRegistryPortsAndSnapshotTemporariesBecomePlaceholders() {
        let events = [
            Self.event("GET", .registry, ["url": .string("http://127.0.0.1:36579/v2/"), "status": .int(200)], shell: "curl -sS http://127.0.0.1:36579/v2/"),
            Self.event("GET", .registry, ["url": .string("http://localhost:41000/token?scope=x")]),
            Self.event("GET", .registry, ["url": .string("https://registry.example:5000/v2/")], why: "from registry.example:5000"),
            Self.event("GET", .registry, ["url": .string("http://127.0.0.1:36579/v2/x/manifests/latest")], why: "fetch the manifest for 127.0.0.1:36579/x:latest"),
            Self.event("mkdir", .layer, ["path": .string("/s/snapshots/tmp-4242-8b9b2711"), "mode": .string("0700")]),
            Self.event("mkdir", .layer, ["path": .string("/s/snapshots/tmp-4242-8b9b2711/fs")]),
            Self.event("rename", .layer, ["from": .string("/s/snapshots/tmp-4242-8b9b2711"), "to": .string("/s/snapshots/a")]),
        ]
        let out = TraceNormalizer.detecting(events).normalize(events)
        #expect(out[0].args["url"] == .string("http://127.0.0.1:<port>/v2/"))
        #expect(out[0].shell == "curl -sS http://127.0.0.1:<port>/v2/")
        #expect(out[1].args["url"] == .string("http://localhost:<port2>/token?scope=x"))
        #expect(out[2].args["url"] == .string("https://registry.example:5000/v2/") && out[2].why == "from registry.example:5000")
        #expect(out[3].why == "fetch the manifest for 127.0.0.1:<port>/x:latest")
        #expect(out[4].args["path"] == .string("/s/snapshots/tmp-<pid>-<rand>"))
        #expect(out[5].args["path"] == .string("/s/snapshots/tmp-<pid>-<rand>/fs"))
        #expect(out[6].args["from"] == .string("/s/snapshots/tmp-<pid>-<rand>"))
    }
}
