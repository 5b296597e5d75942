// `vitro learn run`: the run pipeline with a pause before each stage. Before a stage
// it says what is about to happen and why; during it, every kernel call is shown with
// its reason and the shell command that would do the same; after it, what changed in
// the kernel: the namespaces of pid 1 next to vitro's own, the mounts pid 1 now sees.
// Laid out for an 80-column terminal.

import VitroNamespaces
import VitroRuntime
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public struct QuitWalkthrough: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "walkthrough stopped" }
}

public final class Walkthrough: PipelineObserver {
    let auto: Bool
    let out: Int32
    let width = 80
    let bold: (String) -> String
    /// vitro's own namespaces and mounts, to compare against.
    let hostNamespaces = NamespaceIdentity.of(pid: "self")
    let hostMounts = MountTable.of(pid: "self")
    var step = 0

    public init(auto: Bool, out: Int32 = 1) {
        self.auto = auto
        self.out = out
        let color = Sys.isTerminal(out) && getenv("NO_COLOR") == nil
        bold = color ? { "\u{1B}[1m" + $0 + "\u{1B}[0m" } : { $0 }
    }

    func say(_ s: String) { writeAll(out, Array((s + "\n").utf8)) }

    func paragraph(_ text: String, indent: String = "  ") {
        var line = indent
        for word in text.split(separator: " ") {
            if line.count + word.count + 1 > width - 2, line.count > indent.count {
                say(line)
                line = indent
            }
            line += (line == indent ? "" : " ") + word
        }
        if line != indent { say(line) }
    }

    func rule(_ title: String) {
        let t = "── \(title) "
        say("")
        say(bold(t + String(repeating: "─", count: max(0, width - t.count))))
    }

    /// Waits for Enter (or runs on with --auto or when stdin is not there).
    func pause(_ prompt: String) throws {
        guard !auto else { return }
        writeAll(out, Array("\n  [\(prompt): Enter to go on, q to quit] ".utf8))
        var line: [UInt8] = []
        while true {
            guard let b = try? Sys.read(0, max: 1), let c = b.first else { break }
            if c == 10 { break }
            line.append(c)
        }
        if String(decoding: line, as: UTF8.self).trimmingSpaces == "q" { throw QuitWalkthrough() }
    }

    // MARK: PipelineObserver

    public func willBegin(_ stage: Stage, _ ctx: StageContext) throws {
        step += 1
        rule("Stage \(step): \(stage.title)")
        for p in Lessons.before(stage, ctx) { paragraph(p); say("") }
        try pause("next: \(stage.rawValue)")
        say("")
    }

    public func didEnd(_ stage: Stage, _ ctx: StageContext, events: [TraceEvent]) {
        let calls = events.filter { $0.phase == .complete }
        say("")
        say("  " + bold("What changed") + " (\(calls.count) kernel calls in this stage)")
        let code = codeFiles(calls)
        if !code.isEmpty { paragraph("The code that made them: " + code + ".") }
        switch stage {
        case .rootfs:
            let entries = Sys.listDirectory(ctx.rootfs)
            paragraph("The container's / will be \(ctx.rootfs), which holds: \(entries.joined(separator: " ")).")
        case .namespaces:
            showNamespaces(ctx)
            showMounts(ctx)
        case .pull:
            paragraph("The image's blobs are now in vitro's content store, each under the name of its own hash; the tag points at the manifest.")
        case .unpack:
            paragraph("The layers are snapshots now. The container's root will be an overlay mount of them with its own upper directory on top: what it writes lands there, and the snapshots stay as the image made them.")
        case .cgroups:
            if let pid = ctx.containerPid, let text = try? Sys.readText("/proc/\(pid)/cgroup") {
                say("")
                say("  /proc/\(pid)/cgroup, the cgroups pid 1 is in (as the host sees them):")
                for line in text.split(separator: "\n").prefix(10) { say("    " + String(line.prefix(width - 4))) }
                say("")
                paragraph("Inside the container the same file will say / for each: pid 1 enters a new cgroup namespace just before exec, and its own cgroup becomes the root it sees.")
            }
        case .exec:
            paragraph("pid 1 is now the command itself: vitro-init is gone, and its sync socket and trace pipe closed at execve, which is how vitro knew the exec worked. What follows is the command's own output.")
        default:
            break
        }
    }

    /// The source files the calls came from, busiest first: where to read next.
    func codeFiles(_ calls: [TraceEvent]) -> String {
        var counts: [String: Int] = [:]
        for e in calls {
            guard let code = e.code else { continue }
            let file = code.split(separator: ":").first.map(String.init) ?? code
            counts[file, default: 0] += 1
        }
        let top = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(4)
        return top.map { "\($0.key) (\($0.value))" }.joined(separator: ", ") + (counts.count > 4 ? " and \(counts.count - 4) more" : "")
    }

    public func containerExited(_ status: ExitStatus, _ ctx: StageContext) {
        rule("Done")
        paragraph("The container's pid 1 \(status.text); vitro reports exit code \(status.code), as a shell or Docker would.")
        say("")
        let after = MountTable.of(pid: "self")
        let same = after.entries == hostMounts.entries
        paragraph("When pid 1 ended, the kernel killed what was left in its pid namespace and threw away its mount, UTS, IPC, network and cgroup namespaces: nothing needs unmounting. The host's mount table is \(same ? "exactly as before" : "DIFFERENT from before") (\(after.entries.count) mounts).")
    }

    func showNamespaces(_ ctx: StageContext) {
        guard let pid = ctx.containerPid else { return }
        let inside = NamespaceIdentity.of(pid: String(pid))
        say("")
        say("  namespace   vitro (host)          container pid 1 (host pid \(pid))")
        for ns in inside {
            let host = hostNamespaces.first(where: { $0.kind == ns.kind })?.link ?? "?"
            let mark = host == ns.link ? "  same" : "  new"
            say("  " + pad(ns.kind, 11) + " " + pad(host, 21) + " " + ns.link + mark)
        }
        say("")
        paragraph("Each line is `readlink /proc/PID/ns/KIND`: two processes share a namespace exactly when the inode numbers match.")
    }

    func showMounts(_ ctx: StageContext) {
        guard let pid = ctx.containerPid else { return }
        let table = MountTable.of(pid: String(pid))
        say("")
        say("  The mounts pid 1 sees now (/proc/\(pid)/mountinfo), \(table.entries.count) in all:")
        for e in table.entries.prefix(12) {
            say("    " + pad(e.mountPoint, 16) + " " + pad(e.fstype, 8) + " " + String(e.options.prefix(width - 32)))
        }
        paragraph("The host still sees its own \(hostMounts.entries.count) mounts, unchanged: every mount above was made in the container's mount namespace after `mount --make-rprivate /`.")
    }

    func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
