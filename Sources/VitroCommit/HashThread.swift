// Hashing beside writing. A blob being stored is hashed and written, chunk by chunk;
// done one after the other on one core, a 100 MB layer pays for SHA-256 (about 50 ms
// here, even with SHA-NI) and for the write (about as much) in sequence. With a thread
// that hashes a chunk while the caller writes it, each chunk costs the longer of the
// two instead of their sum. The caller waits for the hash before it returns, so the
// chunk's memory is never used by two threads after `update` returns: there is no
// queue to reason about, one chunk is in flight at a time.
//
// The thread is a plain POSIX thread (vitro uses no Dispatch) woken by two semaphores:
// `work` (a chunk is ready) and `done` (it is hashed). It is made on the first big
// chunk only, so small blobs (configs, manifests) never start one.

import VitroImage

#if canImport(Glibc)
import Glibc
#endif

final class HashThread: @unchecked Sendable {
    // The state below is shared with the thread; the semaphores order every access:
    // the caller writes `chunk` before posting `work` and reads nothing until `done`.
    private var hasher: SHA256Hasher? = SHA256Hasher()
    private var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
    private var stopping = false
    private let work = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private var thread: pthread_t?

    /// Chunks at least this big go to the thread; smaller ones are hashed inline.
    static let threshold = 128 * 1024

    init() {
        sem_init(work, 0, 0)
        sem_init(done, 0, 0)
    }

    deinit {
        stop()
        sem_destroy(work)
        sem_destroy(done)
        work.deallocate()
        done.deallocate()
    }

    /// Hashes `bytes` while `meanwhile` runs (inline for small chunks, or when no
    /// thread can be made).
    func update(_ bytes: UnsafeRawBufferPointer, meanwhile: () throws -> Void) throws {
        guard bytes.count >= Self.threshold, startIfNeeded() else {
            hasher?.update(bytes)
            try meanwhile()
            return
        }
        chunk = bytes
        sem_post(work)
        defer { waitDone() }
        try meanwhile()
    }

    /// The digest of everything hashed (the thread is stopped first).
    func finish() -> Digest? {
        stop()
        return hasher.take()?.finish()
    }

    private func waitDone() {
        while sem_wait(done) != 0 && errno == EINTR {}
    }

    private func startIfNeeded() -> Bool {
        if thread != nil { return true }
        var t = pthread_t()
        // Unretained: `deinit` joins the thread before the object goes.
        let context = Unmanaged.passUnretained(self).toOpaque()
        let r = pthread_create(&t, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<HashThread>.fromOpaque(raw).takeUnretainedValue().loop()
            return nil
        }, context)
        guard r == 0 else { return false }
        thread = t
        return true
    }

    private func loop() {
        while true {
            while sem_wait(work) != 0 && errno == EINTR {}
            if stopping { return }
            hasher?.update(chunk)
            sem_post(done)
        }
    }

    private func stop() {
        guard let t = thread else { return }
        thread = nil
        stopping = true
        sem_post(work)
        pthread_join(t, nil)
    }
}
