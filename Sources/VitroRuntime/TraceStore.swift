// Chapter 12: where run traces are kept, and how many.
//
// Every `vitro run` (and `start`, `restart`, `exec`) without `--trace FILE` writes its
// trace into <root>/traces, one file per run:
//
//   run-<first 12 of the container id>.jsonl      the container's first run
//   run-<id12>.2.jsonl, run-<id12>.3.jsonl, ...   its later runs (start, restart)
//   exec-<id12>.jsonl, exec-<id12>.2.jsonl, ...   each `vitro exec` into it
//
// A file is claimed with O_CREAT|O_EXCL, so two runs never write into one file and a
// restart never overwrites the trace of the run before it. Traces outlive their
// container (a `run --rm` that failed is exactly what one wants to replay), so they are
// bounded instead: once per run (ContainerRun.pruneKeptTraces says when), the oldest
// go until at most `keep` traces and `maxBytes` bytes are left. The trace just written
// is never removed, however large.

import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct TraceStore: Sendable {
    /// The newest traces kept, and the bytes they may take together.
    public static let defaultKeep = 100
    public static let defaultMaxBytes: Int64 = 256 << 20

    public let directory: String
    public init(root: StateRoot) { directory = root.traces }
    public init(directory: String) { self.directory = directory }

    /// One kept trace, as its name says it.
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// `run` or `exec`.
        public var kind: String
        /// The first 12 hex digits of the container's id.
        public var container: String
        /// 1 for the first run (or exec) of the container, then 2, 3, ...
        public var number: Int
        public var bytes: Int64
        /// The last write, in nanoseconds since the epoch.
        public var modifiedNanos: Int64
        public var modified: WallTime { WallTime(seconds: Int(modifiedNanos / 1_000_000_000), nanos: Int(modifiedNanos % 1_000_000_000)) }

        /// Reads `run-0123456789ab.jsonl` or `exec-0123456789ab.3.jsonl`; nil for any other name.
        public init?(name: String, bytes: Int64 = 0, modifiedNanos: Int64 = 0) {
            // Over the name's bytes: every run reads the names of all kept traces.
            let b = Array(name.utf8)
            guard b.count > 6, b[(b.count - 6)...].elementsEqual(".jsonl".utf8) else { return nil }
            let stem = b[..<(b.count - 6)]
            guard let dash = stem.firstIndex(of: UInt8(ascii: "-")) else { return nil }
            let kind = String(decoding: stem[..<dash], as: UTF8.self)
            guard kind == "run" || kind == "exec" else { return nil }
            let rest = stem[(dash + 1)...]
            let dot = rest.firstIndex(of: UInt8(ascii: "."))
            let hex = rest[..<(dot ?? rest.endIndex)]
            let isHex = { (c: UInt8) in (48...57).contains(c) || (97...102).contains(c) || (65...70).contains(c) }
            guard hex.count == 12, hex.allSatisfy(isHex) else { return nil }
            var number = 1
            if let dot {
                let digits = rest[(dot + 1)...]
                guard let n = Int(String(decoding: digits, as: UTF8.self)), n >= 2 else { return nil }
                number = n
            }
            self.name = name
            self.kind = kind
            self.container = String(decoding: hex, as: UTF8.self)
            self.number = number
            self.bytes = bytes
            self.modifiedNanos = modifiedNanos
        }

        /// The name of the `number`th trace of this kind for a container.
        public static func name(kind: String, container: String, number: Int) -> String {
            "\(kind)-\(container.prefix(12))" + (number > 1 ? ".\(number)" : "") + ".jsonl"
        }
    }

    public func path(_ name: String) -> String { directory + "/" + name }

    /// Every kept trace, oldest first (by last write, then by run number). One lstat
    /// each: this runs after every run.
    public func list() -> [Entry] {
        // fstatat from the directory's descriptor: no walk of the whole path per trace.
        guard let dir = try? Sys.open(directory, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, trace: false) else { return [] }
        defer { Sys.close(dir) }
        return Sys.listDirectory(directory).compactMap { name -> Entry? in
            guard var e = Entry(name: name), let st = Sys.status(at: dir, name) else { return nil }
            e.bytes = st.size
            e.modifiedNanos = st.mtime.seconds &* 1_000_000_000 &+ Int64(st.mtime.nanoseconds)
            return e
        }.sorted { ($0.modifiedNanos, $0.container, $0.number, $0.kind) < ($1.modifiedNanos, $1.container, $1.number, $1.kind) }
    }

    /// The traces of one container (a full id or its first 12 digits), oldest first.
    public func traces(of container: String) -> [Entry] {
        let id12 = String(container.prefix(12))
        return list().filter { $0.container == id12 }
    }

    /// Creates the next trace file of this kind for a container and opens it for
    /// writing. Returns the descriptor and the path.
    public func create(kind: String, container: String) throws(SysError) -> (fd: Int32, path: String) {
        try Sys.mkdirAll(directory, mode: 0o700, why: "traces are kept per run")
        var number = 1
        while true {
            let p = path(Entry.name(kind: kind, container: container, number: number))
            do {
                let fd = try Sys.open(p, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o600, trace: false)
                return (fd, p)
            } catch where error.errno == EEXIST && number < 100_000 {
                number += 1
            }
        }
    }

    /// Removes the oldest traces until at most `keep` are left and they take at most
    /// `maxBytes` together; `spare` (the trace just written) stays whatever its size.
    /// Returns the names removed.
    @discardableResult
    public func prune(keep: Int = defaultKeep, maxBytes: Int64 = defaultMaxBytes, spare: String? = nil) -> [String] {
        let all = list()
        var total = all.reduce(Int64(0)) { $0 + $1.bytes }
        var count = all.count
        var removed: [String] = []
        for e in all where count > keep || total > maxBytes {
            if e.name == spare { continue }
            do {
                try Sys.unlink(path(e.name), why: "keep only the newest \(keep) run traces, \(maxBytes >> 20) MiB at most")
            } catch {
                continue
            }
            removed.append(e.name)
            count -= 1
            total -= e.bytes
        }
        return removed
    }
}
