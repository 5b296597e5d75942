// What `vitro pull` prints while it works, as `docker pull` prints it: on a terminal
// one line per layer, redrawn in place with a progress bar; otherwise one plain line
// per change of state, which reads well in a log.
//
//     latest: Pulling from library/busybox
//     5cc84ad355aa: Downloading [=================>                                ]  1.52MB/4.26MB

import VitroImage
import VitroSys

final class PullProgressPrinter: PullObserver {
    let fd: Int32
    let terminal: Bool
    var order: [Digest] = []
    var lines: [Digest: String] = [:]
    var drawn = 0

    init(fd: Int32 = 2) {
        self.fd = fd
        terminal = Sys.isTerminal(fd)
    }

    func say(_ text: String) { _ = Sys.write(fd, Array((text + "\n").utf8)) }

    func pulling(_ ref: Reference, layers: [Descriptor]) {
        let what = ref.digest?.description ?? ref.tag ?? Reference.defaultTag
        say("\(what): Pulling from \(ref.path)")
        order = layers.map(\.digest)
    }

    func warning(_ text: String) { say("WARNING: " + text) }

    func layer(_ digest: Digest, _ state: LayerState) {
        let line = "\(digest.short): " + Self.words(state)
        if !terminal {
            if case .downloading = state { return }
            if lines[digest] == line { return }
            lines[digest] = line
            say(line)
            return
        }
        if !order.contains(digest) { order.append(digest) }
        lines[digest] = line
        redraw()
    }

    /// Moves up over the block drawn last time and draws every layer's line again.
    func redraw() {
        var out = drawn > 0 ? "\u{1B}[\(drawn)A" : ""
        for d in order { out += "\r\u{1B}[2K" + (lines[d] ?? "\(d.short): Waiting") + "\n" }
        drawn = order.count
        _ = Sys.write(fd, Array(out.utf8))
    }

    static func words(_ state: LayerState) -> String {
        switch state {
        case .pullingFsLayer: return "Pulling fs layer"
        case .waiting: return "Waiting"
        case .downloading(let got, let total): return "Downloading " + bar(got, total)
        case .verifying: return "Verifying Checksum"
        case .downloadComplete: return "Download complete"
        case .pullComplete: return "Pull complete"
        case .alreadyExists: return "Already exists"
        }
    }

    /// `[=====>      ]  1.52MB/4.26MB`, 50 columns wide, as Docker draws it.
    static func bar(_ got: Int64, _ total: Int64) -> String {
        let width = 50
        let filled = total > 0 ? Int(min(got, total) * Int64(width) / total) : 0
        var b = "["
        if filled > 0 { b += String(repeating: "=", count: filled - 1) + ">" }
        b += String(repeating: " ", count: width - filled) + "]"
        return b + "  " + Human.size(got) + "/" + Human.size(total)
    }
}
