// Shared helpers for the integration tests: run the built binaries, make a busybox
// rootfs, and check that a test leaves nothing of vitro's behind on the machine.

import Foundation
import Testing

enum Conditions {
    static let isRoot = getuid() == 0
    static let hasBusybox = FileManager.default.isExecutableFile(atPath: "/bin/busybox")
    static let hasStrace = FileManager.default.isExecutableFile(atPath: "/usr/bin/strace")
    static let canRun = isRoot && hasBusybox
}

struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Binaries {
    /// The directory that holds the built vitro and vitro-init: next to the test bundle.
    static let dir: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Swift Testing runs the bundle from .build/<triple>/debug/ on Linux.
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("vitro").path), url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url.path
    }()
    static var vitro: String { dir + "/vitro" }
}

/// Runs a program; stdin from `input` (or /dev/null).
@discardableResult
func runProcess(_ path: String, _ args: [String], env: [String: String] = [:], input: String? = nil, timeout: Double = 60) throws -> Output {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = input == nil ? FileHandle.nullDevice : inp
    try p.run()
    if let input {
        inp.fileHandleForWriting.write(Data(input.utf8))
        try inp.fileHandleForWriting.close()
    }
    // Read both pipes concurrently so neither fills up.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        p.terminate()
        Issue.record("\(path) \(args) timed out")
    }
    p.waitUntilExit()
    return Output(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// A scratch directory with its own VITRO_ROOT and a busybox rootfs, removed at the end.
final class Sandbox {
    let dir: String
    let root: String
    let rootfs: String

    init() throws {
        dir = NSTemporaryDirectory() + "vitro-test-" + UUID().uuidString.prefix(8).lowercased()
        root = dir + "/state"
        rootfs = dir + "/rootfs"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let made = try runProcess(Binaries.vitro, ["mkrootfs", rootfs])
        guard made.status == 0 else { throw SandboxError(message: "mkrootfs: \(made.stderr)") }
    }

    /// Where vitro keeps this root's run-time state (StateRoot.runPath: inside the root).
    var runRoot: String { root + "/run" }

    /// Every run stays off the machine's own network unless a test asks for a bridge
    /// (chapter 05's tests do, inside network namespaces of their own).
    var env: [String: String] { ["VITRO_ROOT": root, "VITRO_NETWORK": "none"] }

    func vitro(_ args: [String], input: String? = nil, timeout: Double = 60) throws -> Output {
        try runProcess(Binaries.vitro, args, env: env, input: input, timeout: timeout)
    }

    func run(_ command: [String], extra: [String] = [], input: String? = nil) throws -> Output {
        try vitro(["run", "--rootfs", rootfs] + extra + command, input: input)
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }
}

struct SandboxError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// What the machine looks like, in the respects vitro could leave something behind:
/// mounts, network links, network namespaces, cgroups, nft tables, processes.
struct MachineSnapshot: Equatable {
    var mounts: [String]
    var links: [String]
    var netns: [String]
    var cgroups: [String]
    var nftTables: [String]
    var processes: [String]

    static func take() -> MachineSnapshot {
        func lines(_ path: String, _ args: [String]) -> [String] {
            guard FileManager.default.isExecutableFile(atPath: path),
                let o = try? runProcess(path, args, timeout: 20)
            else { return [] }
            return o.stdout.split(separator: "\n").map(String.init)
        }
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        // Mount id, mount point and source: enough to see anything added or removed.
        let mounts = mountinfo.split(separator: "\n").map { l -> String in
            let f = l.split(separator: " ")
            return f.count > 4 ? "\(f[3]) \(f[4])" : String(l)
        }
        let links = lines("/usr/sbin/ip", ["-o", "link"]).map { l -> String in
            let f = l.split(separator: ":")
            return f.count > 1 ? f[1].trimmingCharacters(in: .whitespaces) : l
        }
        var cgroups: [String] = []
        if let controllers = try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup") {
            for c in controllers {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/" + c)) ?? []
                cgroups += entries.filter { $0.contains("vitro") }.map { c + "/" + $0 }
            }
        }
        let procs = lines("/usr/bin/pgrep", ["-a", "-f", "vitro-init"]).filter { !$0.contains("pgrep") }
        return MachineSnapshot(
            mounts: mounts.sorted(), links: links.sorted(),
            netns: lines("/usr/sbin/ip", ["netns", "list"]).sorted(), cgroups: cgroups.sorted(),
            nftTables: lines("/usr/sbin/nft", ["list", "tables"]).sorted(), processes: procs)
    }

    /// What is in `after` that was not here before, by kind.
    func added(in after: MachineSnapshot) -> [String] {
        func diff(_ kind: String, _ a: [String], _ b: [String]) -> [String] {
            Set(b).subtracting(a).sorted().map { "\(kind): \($0)" }
        }
        return diff("mount", mounts, after.mounts) + diff("link", links, after.links)
            + diff("netns", netns, after.netns) + diff("cgroup", cgroups, after.cgroups)
            + diff("nft table", nftTables, after.nftTables) + diff("process", processes, after.processes)
    }
}

/// Runs `body` and records an issue for anything it left on the machine.
func leavesNothing(_ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) rethrows {
    let before = MachineSnapshot.take()
    try body()
    // Namespaces and mounts of a dead container go away asynchronously; give them a moment.
    var left: [String] = []
    for _ in 0..<20 {
        left = before.added(in: MachineSnapshot.take())
        if left.isEmpty { break }
        usleep(50_000)
    }
    #expect(left.isEmpty, "left behind: \(left.joined(separator: ", "))", sourceLocation: sourceLocation)
}

/// Reads a JSON Lines trace.
func readTrace(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map { line in
        guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw SandboxError(message: "trace line is not an object: \(line)")
        }
        return obj
    }
}
