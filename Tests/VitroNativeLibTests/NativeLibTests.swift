// The native libraries link and answer: libcap, libseccomp and libpcap through their
// system-library targets (found with pkg-config).

import CCap
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
}
