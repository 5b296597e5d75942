// nftables: vitro's NAT rules (chapter 05), through libnftables, the library the `nft`
// command is built on. One call runs one nft script, and libnftables sends a script's
// commands to the kernel as one netlink batch: the kernel applies all of it or none
// (an nftables transaction). That is how a container's rules go in and out in one step.
//
// libnftables is opened with dlopen(3) the first time it is needed rather than linked:
// vitro-init links VitroSys and must start in about a millisecond, and libnftables
// brings libnftnl, libmnl, libjansson, libgmp and libxtables with it. A container
// without published ports never loads it. The function types below are those of
// /usr/include/nftables/libnftables.h (the CNftables module; a native-library test
// checks the two agree).
//
// The trace event is named `nft`, in group `netfilter`, and its `shell` is the script
// as `nft -f -` would take it.

import CVitroShim
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

final class NftablesLibrary: @unchecked Sendable {
    typealias CtxNew = @convention(c) (UInt32) -> OpaquePointer?
    typealias CtxFree = @convention(c) (OpaquePointer?) -> Void
    typealias CtxInt = @convention(c) (OpaquePointer?) -> Int32
    typealias CtxBuffer = @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>?
    typealias SetFlags = @convention(c) (OpaquePointer?, UInt32) -> Void
    typealias RunBuffer = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32

    let ctxNew: CtxNew
    let ctxFree: CtxFree
    let bufferOutput: CtxInt
    let bufferError: CtxInt
    let outputBuffer: CtxBuffer
    let errorBuffer: CtxBuffer
    let setOutputFlags: SetFlags
    let run: RunBuffer

    /// NFT_CTX_OUTPUT_HANDLE: listings show `# handle N`.
    static let outputHandle: UInt32 = 1 << 3
    /// NFT_CTX_OUTPUT_ECHO: print each command back, as the kernel applied it (with
    /// HANDLE, a new rule's handle).
    static let outputEcho: UInt32 = 1 << 5

    init?() {
        guard let h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL) else { return nil }
        func sym<T>(_ name: String, _: T.Type) -> T? {
            guard let p = dlsym(h, name) else { return nil }
            return unsafeBitCast(p, to: T.self)
        }
        guard let a = sym("nft_ctx_new", CtxNew.self), let b = sym("nft_ctx_free", CtxFree.self),
            let c = sym("nft_ctx_buffer_output", CtxInt.self), let d = sym("nft_ctx_buffer_error", CtxInt.self),
            let e = sym("nft_ctx_get_output_buffer", CtxBuffer.self), let f = sym("nft_ctx_get_error_buffer", CtxBuffer.self),
            let g = sym("nft_ctx_output_set_flags", SetFlags.self), let r = sym("nft_run_cmd_from_buffer", RunBuffer.self)
        else { return nil }
        (ctxNew, ctxFree, bufferOutput, bufferError, outputBuffer, errorBuffer, setOutputFlags, run) = (a, b, c, d, e, f, g, r)
    }

    static let shared = NftablesLibrary()

    /// Runs `script`; returns (ok, output, error text).
    func execute(_ script: String, handles: Bool, echo: Bool = false) -> (Bool, String, String) {
        guard let ctx = ctxNew(0) else { return (false, "", "nft_ctx_new failed") }
        defer { ctxFree(ctx) }
        _ = bufferOutput(ctx)
        _ = bufferError(ctx)
        if handles { setOutputFlags(ctx, NftablesLibrary.outputHandle | (echo ? NftablesLibrary.outputEcho : 0)) }
        let r = script.withCString { run(ctx, $0) }
        let out = outputBuffer(ctx).map { String(cString: $0) } ?? ""
        let err = errorBuffer(ctx).map { String(cString: $0) } ?? ""
        return (r == 0, out, err)
    }
}

extension Sys {
    /// Runs an nft script as one transaction. `object` names what it changes
    /// (`table ip vitro`) for the error message. Returns the commands echoed back with
    /// their handles (`add rule … # handle 7`), so rules can later be deleted by handle
    /// without listing the chain.
    @discardableResult
    public static func nft(
        _ script: String, object: String, args: Args = [:], why: String? = nil,
        file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> String {
        let start = MonotonicClock.now()
        guard let lib = NftablesLibrary.shared else {
            throw SysError(operation: "nft", object: object, errno: ENOENT, hint: "libnftables.so.1 not found: install libnftables1")
        }
        let (ok, out, err) = lib.execute(script, handles: true, echo: true)
        var a = args
        a.append("commands", .int(Int64(script.split(separator: "\n").count)))
        Tracer.shared.call(
            "nft", group: .netfilter, start: start, args: a, ret: ok ? 0 : -1, errno: ok ? nil : "EINVAL", why: why,
            shell: "nft -f - <<'EOF'\n" + script + (script.hasSuffix("\n") ? "" : "\n") + "EOF", tid: threadID(), file: file, line: line)
        if !ok {
            // libnftables says where: "<cmdline>:3:1-20: Error: …", then the line itself.
            let lines = err.split(separator: "\n").map(String.init)
            var first = lines.first ?? "failed"
            if let r = first.firstRange(of: "Error: ") { first = String(first[r.lowerBound...]) }
            throw SysError(operation: "nft", object: object, errno: 0, hint: lines.count > 1 ? "\(first), in: \(lines[1])" : first)
        }
        return out
    }

    /// Runs a read-only nft command (`list chain ip vitro ports`) with handles shown and
    /// returns its output; nil when it failed (the table does not exist). Not traced:
    /// it changes nothing.
    public static func nftList(_ command: String) -> String? {
        guard let lib = NftablesLibrary.shared else { return nil }
        let (ok, out, _) = lib.execute(command, handles: true)
        return ok ? out : nil
    }
}

extension Sys {
    /// Sends one nf_tables batch (NFNL_MSG_BATCH_BEGIN, commands, NFNL_MSG_BATCH_END:
    /// one transaction) on a NETLINK_NETFILTER socket and returns what the kernel sent
    /// back (echoed commands; acknowledgements are consumed). The kernel handles a
    /// batch inside sendmsg, so every answer is queued when it returns: they are read
    /// without waiting, until none is left. Traced as `nft`, with `script` (the same
    /// commands as `nft -f -` would take them) as its shell line.
    public static func nftBatch(
        _ fd: Int32, batch: [UInt8], object: String, args: Args, commands: Int, why: String?, script: String, file: StaticString = #fileID, line: UInt = #line
    ) throws(SysError) -> [NetlinkReply] {
        let start = MonotonicClock.now()
        var replies: [NetlinkReply] = []
        var failure: (Int32, String?)?
        let sendErr = sendToKernel(fd, batch)
        if sendErr != 0 { failure = (sendErr, nil) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while failure == nil {
            let got = receiveDatagram(fd, into: &buffer, wait: false)
            if got < 0 {
                if Int32(-got) != EAGAIN { failure = (Int32(-got), nil) }
                break
            }
            for (m, _) in netlinkMessages(buffer, count: got) {
                if m.type == nlmsgError {
                    if failure == nil { failure = netlinkError(m) }
                } else if m.type != nlmsgDone {
                    replies.append(m)
                }
            }
        }
        var a = args
        a.append("commands", .int(Int64(commands)))
        a.append("via", .string("netlink"))
        Tracer.shared.call(
            "nft", group: .netfilter, start: start, args: a, ret: failure == nil ? 0 : -1,
            errno: failure.map { Errno.name($0.0) }, why: why,
            shell: "nft -f - <<'EOF'\n" + script + (script.hasSuffix("\n") ? "" : "\n") + "EOF", tid: threadID(), file: file, line: line)
        if let (e, message) = failure {
            throw SysError(operation: "nft", object: object, errno: e, hint: message)
        }
        return replies
    }
}

extension Sys {
    /// Closes a NETLINK_NETFILTER socket without waiting for the kernel: closing one
    /// first waits until nf_tables has freed the rules of every transaction that deleted
    /// some, an RCU grace period (8–20 ms). The deletion itself is committed already; the
    /// wait is only for memory. So the last close goes to a grandchild (fork, fork: an
    /// orphan, which closes every other descriptor it inherited, then this socket, and
    /// exits), and vitro goes on at once.
    public static func closeNetfilterSocket(_ fd: Int32, why: String, file: StaticString = #fileID, line: UInt = #line) {
        _ = try? invoke(
            file: file, line: line, "close", .netfilter, object: "NETLINK_NETFILTER",
            args: ["fd": .string("NETLINK_NETFILTER socket"), "via": .string("an orphaned grandchild: fork, fork, close")],
            why: why, shell: nil
        ) { Int(vitro_close_in_orphan(fd)) }
    }
}
