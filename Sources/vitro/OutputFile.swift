// Where export and save write: a file given with -o (made under a temporary name beside
// it and renamed when complete, so a failure leaves no half archive; a device such as
// /dev/null is written into), or stdout when it is not a terminal (Docker refuses to write an archive to a terminal, and so does vitro).

import VitroCommit
import VitroSys

#if canImport(Glibc)
import Glibc
#endif

enum OutputFile {
    static func write(to path: String?, what: String, _ body: (any ByteSink) throws -> Void) throws {
        guard let path else {
            guard isatty(1) == 0 else {
                throw CommitError("cowardly refusing to write the \(what) to a terminal; use -o or redirect")
            }
            let sink = DescriptorSink(fd: 1, name: "stdout")
            try body(sink)
            try sink.finish()
            return
        }
        if Sys.isWrittenInPlace(path) {
            // `-o /dev/null` or a fifo: written into, never renamed over.
            let fd = try Sys.open(path, flags: O_WRONLY | O_CLOEXEC, trace: false)
            defer { Sys.close(fd) }
            let sink = DescriptorSink(fd: fd, name: path)
            try body(sink)
            try sink.finish()
            return
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let tmp = (dir.isEmpty ? "" : dir + "/") + "." + name + ".tmp-\(getpid())"
        let fd = try Sys.open(tmp, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode: 0o644, trace: false)
        do {
            let sink = DescriptorSink(fd: fd, name: path)
            try body(sink)
            try sink.finish()
            Sys.close(fd)
            try Sys.rename(tmp, to: path, why: "the archive is complete: give it its name")
        } catch {
            Sys.close(fd)
            try? Sys.unlink(tmp, why: "leave no half-written archive")
            throw error
        }
    }
}
