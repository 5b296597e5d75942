// The event model of a vitro trace, schema version 1.
//
// One event is one thing vitro asked of the kernel (a syscall, a write to a kernel
// file, a netlink message), one stage boundary, or one note. Field names follow the
// Chrome Trace Event format where one fits (name, ph, ts, dur, pid, tid, cat, args) so
// that a converted trace opens in Perfetto; vitro adds seq, stage, group, ret, errno,
// and for teaching why (one sentence) and shell (a command a person could type for the
// same effect). Traces/trace-event.schema.json publishes the JSON form.

/// Version of the JSON Lines trace format written by this build.
public let traceSchemaVersion = 1

/// Chrome's event phases that vitro uses.
public enum Phase: String, Sendable {
    /// A complete event: something with a start and a duration (a syscall).
    case complete = "X"
    /// The start of a stage span.
    case begin = "B"
    /// The end of a stage span.
    case end = "E"
    /// An instant: a note, a packet seen, a header.
    case instant = "i"
    /// Metadata (the trace header).
    case metadata = "M"
}

/// What part of the kernel an event touched. The groups are the chapters' vocabulary.
public enum Group: String, Sendable, CaseIterable {
    case namespace, mount, cgroup, netlink, netfilter, capability, seccomp
    case process, file, registry, layer, packet
    /// Stage boundaries and run-level notes.
    case stage
}

/// The named stages of the pipeline, in order. `learn run` pauses before each.
public enum Stage: String, Sendable, CaseIterable {
    case pull, unpack
    /// Making the root filesystem ready: an image's or a given directory.
    case rootfs
    /// Volumes and bind mounts (chapter 06): vitro prepares their sources on the host;
    /// pid 1's mounts of them, made while it builds the root, carry this stage too.
    case volumes
    case namespaces, cgroups, network
    case exec
    /// `vitro commit`: a container's upper directory becomes a layer and an image
    /// (chapter 09). Not a stage of `run`.
    case commit
    /// `vitro build`: one Dockerfile step (chapter 10); a RUN step's container runs
    /// the stages of `run` in between. Not a stage of `run`.
    case build
    /// `vitro push`: an image's blobs and manifest sent to a registry (chapter 11).
    case push
    /// Work outside a container start (cleanup, commands that are not `run`).
    case none = ""

    public var title: String {
        switch self {
        case .pull: return "pull the image"
        case .unpack: return "unpack the layers"
        case .rootfs: return "prepare the root filesystem"
        case .volumes: return "prepare volumes and mounts"
        case .namespaces: return "create namespaces and the container's root"
        case .cgroups: return "apply cgroup limits"
        case .network: return "wire the network"
        case .exec: return "exec the container's process"
        case .commit: return "commit the container's changes as an image"
        case .build: return "build a step of the Dockerfile"
        case .push: return "push the image to a registry"
        case .none: return ""
        }
    }
}

/// A place in vitro's sources, as `#fileID` and `#line` give it at a call site
/// (`VitroNetwork/Bridge.swift`, 57), written the way the repository lays files out.
public func sourceLocation(_ file: StaticString, _ line: UInt) -> String {
    // Concatenated, not interpolated: every event of a run makes one.
    let name = file.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
    return "Sources/" + name + ":" + String(line)
}

/// A typed argument value. Flags keep their names so that a trace says
/// `MS_BIND|MS_REC`, not `20480`.
public enum ArgValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case flags(String)
    case list([String])

    public var text: String {
        switch self {
        case .string(let s), .flags(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .list(let l): return l.joined(separator: " ")
        }
    }
}

/// An ordered key/value list (order is kept so the first argument is the object).
public struct Args: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public var items: [(key: String, value: ArgValue)]

    public init(_ items: [(String, ArgValue)] = []) {
        self.items = items.map { (key: $0.0, value: $0.1) }
    }
    public init(dictionaryLiteral elements: (String, ArgValue)...) {
        self.init(elements)
    }
    public subscript(key: String) -> ArgValue? {
        items.first(where: { $0.key == key })?.value
    }
    public mutating func append(_ key: String, _ value: ArgValue) {
        items.append((key: key, value: value))
    }
    public var isEmpty: Bool { items.isEmpty }
    public static func == (a: Args, b: Args) -> Bool {
        a.items.count == b.items.count
            && zip(a.items, b.items).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

public struct TraceEvent: Sendable, Equatable {
    /// Order in the merged trace, from 1. Assigned by the tracer that writes the trace.
    public var seq: UInt64
    /// Start, in nanoseconds of CLOCK_MONOTONIC (shared by every process on the host).
    public var tsNanos: UInt64
    /// Duration in nanoseconds, for complete events.
    public var durNanos: UInt64?
    public var phase: Phase
    /// The call (`mount`, `unshare`, `write`) or the stage name.
    public var name: String
    public var group: Group
    public var stage: Stage
    /// Host pid and thread id of the process that made the call.
    public var pid: Int32
    public var tid: Int32
    public var args: Args
    /// What the call returned, when it returned.
    public var ret: Int64?
    /// Symbolic errno (`EPERM`) when the call failed.
    public var errno: String?
    /// One sentence: why vitro did this.
    public var why: String?
    /// A command a person could type for the same effect.
    public var shell: String?
    /// Where in vitro's sources the call was made: `Sources/VitroNetwork/Bridge.swift:57`,
    /// the line that called the VitroSys wrapper (not the wrapper itself), so a reader of
    /// the trace can open the code that asked for it.
    public var code: String?

    public init(
        seq: UInt64 = 0, tsNanos: UInt64, durNanos: UInt64? = nil, phase: Phase, name: String,
        group: Group, stage: Stage, pid: Int32, tid: Int32, args: Args = [:], ret: Int64? = nil,
        errno: String? = nil, why: String? = nil, shell: String? = nil, code: String? = nil
    ) {
        self.seq = seq
        self.tsNanos = tsNanos
        self.durNanos = durNanos
        self.phase = phase
        self.name = name
        self.group = group
        self.stage = stage
        self.pid = pid
        self.tid = tid
        self.args = args
        self.ret = ret
        self.errno = errno
        self.why = why
        self.shell = shell
        self.code = code
    }

    /// True for a call that failed.
    public var failed: Bool { errno != nil }

    /// A short label: the call and its first argument (`pivot_root /var/lib/...`).
    public var label: String {
        guard let first = args.items.first else { return name }
        return "\(name) \(first.value.text)"
    }
}
