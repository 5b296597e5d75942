// Plain POSIX threads for the unpackers (vitro uses no Dispatch): a layer streamed
// from the network is unpacked on a thread of its own while the download thread goes
// on (LayerStreamUnpacker), and the layers of an image already in the store are
// unpacked side by side (SnapshotStore.unpackLayers). A thread runs one closure and
// is joined by whoever started it. Chapter 11 pushes layers side by side with it too.

#if canImport(Glibc)
import Glibc
#endif

/// One running thread; `join` waits for its closure to return.
public final class WorkerThread: @unchecked Sendable {
    private let body: @Sendable () -> Void
    private var thread: pthread_t?

    private init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    /// Starts `body` on a new thread; nil when the system makes no thread (EAGAIN).
    public static func start(_ body: @escaping @Sendable () -> Void) -> WorkerThread? {
        let w = WorkerThread(body)
        var t = pthread_t()
        // Retained until the thread has run: it releases its own reference.
        let context = Unmanaged.passRetained(w).toOpaque()
        let r = pthread_create(&t, nil, { raw in
            guard let raw else { return nil }
            let w = Unmanaged<WorkerThread>.fromOpaque(raw).takeRetainedValue()
            w.body()
            return nil
        }, context)
        guard r == 0 else {
            Unmanaged<WorkerThread>.fromOpaque(context).release()
            return nil
        }
        w.thread = t
        return w
    }

    public func join() {
        guard let t = thread.take() else { return }
        pthread_join(t, nil)
    }
}

/// A mutex and a condition variable at a fixed address (pthread objects must not move).
final class Monitor: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits (the mutex held) until `ready`, woken by `broadcast`.
    func wait(until ready: () -> Bool) {
        while !ready() { pthread_cond_wait(cond, mutex) }
    }

    /// Called with the mutex held.
    func broadcast() { pthread_cond_broadcast(cond) }
}
