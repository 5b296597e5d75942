// The pipe between a download and its unpacker: the download thread writes the
// layer's bytes as they arrive, the unpacker's thread reads them as a ByteSource. It
// is a queue of copied chunks in memory, bounded (`limit` bytes): a writer that finds
// it full waits for the reader, so a slow disk slows the download instead of filling
// memory with a whole layer. There is no cycle to deadlock: the reader waits only for
// bytes or the end, and never for the writer's other work.
//
// The writer ends it with `close` (the reader then sees the end, 0). A reader that
// stops early (the snapshot exists already, the tar is bad) calls `stopReading`, and
// later writes are dropped, so a stopped unpacker never holds up the download.

#if canImport(Glibc)
import Glibc
#endif

import VitroImage

final class ChunkPipe: ByteSource, @unchecked Sendable {
    private let monitor = Monitor()
    let limit: Int
    // Guarded by `monitor`.
    private var chunks: [[UInt8]] = []
    private var head = 0
    private var offset = 0
    private var buffered = 0
    private var closed = false
    private var readerGone = false
    /// Bytes written since the pipe was made.
    private(set) var written: Int64 = 0

    init(limit: Int = 8 << 20) { self.limit = limit }

    /// Appends a copy of `chunk`, waiting while the pipe is full.
    func write(_ chunk: UnsafeRawBufferPointer) {
        guard chunk.count > 0 else { return }
        let copy = [UInt8](chunk)
        monitor.locked {
            monitor.wait { readerGone || closed || buffered < limit }
            guard !readerGone, !closed else { return }
            chunks.append(copy)
            buffered += copy.count
            written += Int64(copy.count)
            monitor.broadcast()
        }
    }

    /// No more bytes: the reader gets 0 once it has read what is buffered.
    func close() {
        monitor.locked {
            closed = true
            monitor.broadcast()
        }
    }

    /// The reader is done: what is buffered and what comes later is dropped.
    func stopReading() {
        monitor.locked {
            readerGone = true
            chunks.removeAll()
            head = 0
            buffered = 0
            monitor.broadcast()
        }
    }

    /// Waits until the writer has closed the pipe.
    func waitClosed() {
        monitor.locked { monitor.wait { closed } }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0, let to = buffer.baseAddress else { return 0 }
        return monitor.locked {
            monitor.wait { head < chunks.count || closed }
            var n = 0
            while n < buffer.count && head < chunks.count {
                let chunk = chunks[head]
                let take = min(buffer.count - n, chunk.count - offset)
                chunk.withUnsafeBytes { from in
                    if let base = from.baseAddress { (to + n).copyMemory(from: base + offset, byteCount: take) }
                }
                n += take
                offset += take
                if offset == chunk.count {
                    chunks[head] = []
                    head += 1
                    offset = 0
                }
            }
            if head > 64 && head * 2 > chunks.count {
                chunks.removeFirst(head)
                head = 0
            }
            buffered -= n
            monitor.broadcast()
            return n
        }
    }
}
