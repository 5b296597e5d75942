// The native libraries link and answer: libcap, libseccomp, libpcap and libnftables
// through their system-library targets (found with pkg-config).

import CCap
import CNftables
import CPcap
import CSeccomp
import Testing

@Suite struct NativeLibraries {
    @Test func libcapNamesCapabilities() throws {
        let name = cap_to_name(cap_value_t(21))  // CAP_SYS_ADMIN
        defer { cap_free(name) }
        #expect(name.map { String(cString: $0) } == "cap_sys_admin")
    }

    @Test func libseccompResolvesSyscallNames() {
        #expect(seccomp_syscall_resolve_name("mount") == 165)  // x86_64
        #expect(seccomp_syscall_resolve_name("no_such_call") < 0)
    }

    @Test func libpcapReportsItsVersion() throws {
        let v = String(cString: pcap_lib_version())
        #expect(v.hasPrefix("libpcap version"))
    }

    /// VitroSys opens libnftables with dlopen and declares its functions itself
    /// (Sys+Nftables.swift). These assignments fail to compile if the header's
    /// signatures ever stop matching those declarations. No kernel is asked anything.
    @Test func libnftablesMatchesVitroSysDeclarations() {
        let new: @convention(c) (UInt32) -> OpaquePointer? = nft_ctx_new
        let free: @convention(c) (OpaquePointer?) -> Void = nft_ctx_free
        let buffer: @convention(c) (OpaquePointer?) -> Int32 = nft_ctx_buffer_output
        let output: @convention(c) (OpaquePointer?) -> UnsafePointer<CChar>? = nft_ctx_get_output_buffer
        let setFlags: @convention(c) (OpaquePointer?, UInt32) -> Void = nft_ctx_output_set_flags
        let run: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Int32 = nft_run_cmd_from_buffer
        _ = run
        let ctx = new(0)
        #expect(ctx != nil)
        #expect(buffer(ctx) == 0)
        setFlags(ctx, UInt32(NFT_CTX_OUTPUT_HANDLE) | UInt32(NFT_CTX_OUTPUT_ECHO))
        #expect(nft_ctx_output_get_flags(ctx) == (1 << 3) | (1 << 5))
        #expect(output(ctx).map { String(cString: $0) } == "")
        free(ctx)
    }
}
