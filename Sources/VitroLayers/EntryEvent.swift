// The one trace event of one tar entry (group `layer`). `untar` for an ordinary entry,
// `whiteout` and `opaque` for the two OCI markers (each with a `why` that says what the
// marker means to overlayfs), `skip` for AUFS bookkeeping. The arguments are what the
// entry's calls did: path (relative to the snapshot), type, mode and size first, then
// owner, link target, device number and xattr names where they apply. The shell line
// is a command with the same effect, run from the snapshot's directory.

import VitroSys
import VitroTrace

struct EntryEvent {
    let entry: TarEntry
    var name = "untar"
    /// The cleaned path, once the name has passed the checks; the raw name before.
    var path: String
    var extra: Args = [:]
    var whyOverride: String? = nil
    var shellOverride: String? = nil

    init(_ entry: TarEntry) {
        self.entry = entry
        path = entry.path
    }

    mutating func whiteout(marker: String, hides: String) {
        name = "whiteout"
        path = marker
        extra.append("hides", .string(hides))
        whyOverride =
            "a .wh.NAME file in an OCI layer says NAME was deleted; overlayfs spells a deletion as a character device 0:0, which hides NAME in every lower layer"
        shellOverride = "mknod -m 000 \(Sys.shellQuote(hides)) c 0 0"
    }

    mutating func opaque(directory: String) {
        name = "opaque"
        path = directory
        whyOverride =
            ".wh..wh..opq says this directory's contents in lower layers are gone; overlayfs spells that as the xattr trusted.overlay.opaque=y, so the directory shows only what this layer and those above it hold"
        shellOverride = "setfattr -n trusted.overlay.opaque -v y \(Sys.shellQuote(directory))"
    }

    mutating func skip() {
        name = "skip"
        whyOverride = "AUFS bookkeeping (.wh..wh.*) that old Docker versions left in layers; it is not content"
        shellOverride = nil
    }

    func record(start: UInt64, failure: LayerError? = nil) {
        var a: Args = ["path": .string(path)]
        if name == "untar" || name == "skip" {
            a.append("type", .string(entry.kind.rawValue))
            a.append("mode", .string("0" + String(entry.mode, radix: 8)))
            a.append("size", .int(entry.size))
            a.append("uid", .int(Int64(entry.uid)))
            a.append("gid", .int(Int64(entry.gid)))
            switch entry.kind {
            case .symlink, .hardLink: a.append("target", .string(entry.linkTarget))
            case .characterDevice, .blockDevice: a.append("dev", .string("\(entry.deviceMajor):\(entry.deviceMinor)"))
            default: break
            }
            if !entry.xattrs.isEmpty { a.append("xattrs", .list(entry.xattrs.map(\.name))) }
        }
        for (k, v) in extra.items { a.append(k, v) }
        Sys.record(
            name, .layer, start: start, args: a, error: failure?.description, errno: failure?.underlying?.errno ?? 0,
            why: whyOverride ?? why, shell: shellOverride ?? shell)
    }

    var why: String {
        switch entry.kind {
        case .regular:
            return "a file of the layer: content streamed from the tar, then owner, mode, xattrs and times, in that order (chown clears set-user-ID bits and file capabilities)"
        case .directory:
            return "a directory of the layer: made now, given its mode and times after its contents"
        case .symlink:
            return "a symlink, stored as the layer has it and never followed while unpacking; owner and times are the link's own (AT_SYMLINK_NOFOLLOW)"
        case .hardLink:
            return "a hard link: another name for a file that came earlier in this same layer"
        case .characterDevice, .blockDevice:
            return "a device node as the image has it; a container reaches it only if its device rules allow"
        case .fifo:
            return "a named pipe (fifo) as the image has it"
        }
    }

    var shell: String {
        let p = Sys.shellQuote(path)
        let own = "\(entry.uid):\(entry.gid)"
        let mode = String(entry.mode, radix: 8)
        switch entry.kind {
        case .regular:
            return "tar -x -p --xattrs --numeric-owner -f LAYER.tar \(Sys.shellQuote(entry.path))"
        case .directory:
            return "mkdir -p \(p) && chown \(own) \(p) && chmod \(mode) \(p)"
        case .symlink:
            return "ln -s \(Sys.shellQuote(entry.linkTarget)) \(p) && chown -h \(own) \(p)"
        case .hardLink:
            return "ln \(Sys.shellQuote(entry.linkTarget)) \(p)"
        case .characterDevice, .blockDevice:
            let t = entry.kind == .characterDevice ? "c" : "b"
            return "mknod -m \(mode) \(p) \(t) \(entry.deviceMajor) \(entry.deviceMinor) && chown \(own) \(p)"
        case .fifo:
            return "mkfifo -m \(mode) \(p) && chown \(own) \(p)"
        }
    }
}
