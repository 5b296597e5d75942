// VitroSys: the only module that calls the kernel for a privileged effect.
//
// Every wrapper follows one shape (`Sys.invoke`): note the time, make the call, retry
// on EINTR, read errno at once, record a trace event in the caller's stage with the
// arguments by name, a `why` and the equivalent shell command, and throw a SysError
// that names the operation and the object. Read-only queries (stat, readlink, reading a
// file) change nothing and are not traced. A test scans Sources/ and fails if any other
// module calls one of these system calls directly.
//
// Bugs trap, the environment throws: EFAULT means vitro passed a bad pointer, which is
// a bug; EPERM, ENOENT, EBUSY and the rest are thrown for the caller to report.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

public enum Sys {
    /// Runs `body` (a raw call returning -1 and setting errno on failure) with EINTR
    /// retry, records the trace event and throws on failure.
    @discardableResult
    static func invoke(
        file: StaticString = #fileID, line: UInt = #line,
        _ name: String, _ group: Group, object: String, args: Args, why: String?, shell: String?,
        hint: (Int32) -> String? = { _ in nil }, _ body: () -> Int
    ) throws(SysError) -> Int {
        let start = MonotonicClock.now()
        do {
            let r = try retrying(name, object: object, hint: hint, body)
            Tracer.shared.call(
                name, group: group, start: start, args: args, ret: Int64(r), errno: nil, why: why, shell: shell,
                tid: threadID(), file: file, line: line)
            return r
        } catch {
            Tracer.shared.call(
                name, group: group, start: start, args: args, ret: -1, errno: error.errnoName, why: why, shell: shell,
                tid: threadID(), file: file, line: line)
            throw error
        }
    }

    /// The call itself, without an event: EINTR retried, errno read at once, a typed
    /// error. `invoke` records around it; callers that record one event for several
    /// calls (the layer unpacker) use it alone.
    @discardableResult
    static func retrying(_ name: String, object: String, hint: (Int32) -> String? = { _ in nil }, _ body: () -> Int) throws(SysError) -> Int {
        var r: Int
        var err: Int32 = 0
        repeat {
            r = body()
            err = r < 0 ? Glibc.errno : 0
        } while r < 0 && err == EINTR
        precondition(err != EFAULT, "bug: \(name) was given a bad address")
        if r < 0 { throw SysError(operation: name, object: object, errno: err, hint: hint(err)) }
        return r
    }

    /// The calling thread's id when it is not the process's main thread; nil otherwise,
    /// so that the event carries the tracer's (host) pid. Inside a new pid namespace
    /// gettid() and getpid() both say 1. Asked for every event: the answer is kept per
    /// thread (gettid and getpid were two system calls per traced call, 380 in a run),
    /// and forgotten in the child of a fork (`forgetThreadID`), a new process.
    static func threadID() -> Int32? {
        if let kept = pthread_getspecific(threadIDKey) {
            let tid = Int32(truncatingIfNeeded: Int(bitPattern: kept))
            return tid < 0 ? nil : tid
        }
        let tid = vitro_gettid()
        let main = tid == getpid()
        // -1 for the main thread: a kept value is never 0 (nil, "not asked yet").
        pthread_setspecific(threadIDKey, UnsafeRawPointer(bitPattern: main ? -1 : Int(tid)))
        return main ? nil : tid
    }

    /// In the child of a fork: its one thread is the main thread of a new process.
    static func forgetThreadID() {
        pthread_setspecific(threadIDKey, nil)
    }

    private static let threadIDKey: pthread_key_t = {
        var key = pthread_key_t()
        guard pthread_key_create(&key, nil) == 0 else { preconditionFailure("pthread_key_create: no key left") }
        return key
    }()

    /// Calls `body` with a C string array (argv, envp) that ends with NULL.
    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        ptrs.append(nil)
        defer { for p in ptrs { free(p) } }
        return body(ptrs)
    }

    /// A string quoted for a POSIX shell when it needs to be.
    public static func shellQuote(_ s: String) -> String {
        let safe = s.utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
                || "/._-=:,+@%".utf8.contains(c)
        }
        if safe && !s.isEmpty { return s }
        return "'" + s.replacingOccurrences("'", "'\\''") + "'"
    }

    public static func shellLine(_ words: [String]) -> String {
        words.map(shellQuote).joined(separator: " ")
    }
}

extension String {
    /// Foundation-free replacement of every occurrence of `target`.
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[rest.startIndex..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
