// Native libraries opened on first use (CVitroShim's vitro_library_load, the tables of
// CPcap, CCrypto, CSeccomp, CZlib and CZstd): a library that is there is opened once and
// answers; one that is not gives an error that names it, and nothing is called.

import CSeccomp
import CVitroShim
import Testing
import VitroExec
import VitroImage

@Suite struct LibraryLoading {
    @Test func aMissingLibraryIsAnErrorThatNamesIt() {
        let table = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 4)
        defer { table.deallocate() }
        table.initialize(repeating: nil, count: 4)
        let ok = "nothing_here".withCString { n -> Int32 in
            var list: [UnsafePointer<CChar>?] = [n, nil]
            return list.withUnsafeMutableBufferPointer { vitro_library_load(table, "libvitro-no-such-library.so.9", $0.baseAddress) }
        }
        #expect(ok == 0)
        #expect(table[0] == nil, "a failed load must not look loaded")
        #expect(String(cString: vitro_library_error()).contains("libvitro-no-such-library.so.9"))
    }

    @Test func aLibraryWithoutAFunctionIsAnErrorThatNamesTheFunction() {
        let table = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 4)
        defer { table.deallocate() }
        table.initialize(repeating: nil, count: 4)
        let ok = "seccomp_no_such_function".withCString { n -> Int32 in
            var list: [UnsafePointer<CChar>?] = [n, nil]
            return list.withUnsafeMutableBufferPointer { vitro_library_load(table, CSECCOMP_SONAME, $0.baseAddress) }
        }
        #expect(ok == 0)
        #expect(table[0] == nil)
        #expect(String(cString: vitro_library_error()).contains("no function seccomp_no_such_function"))
    }

    @Test func libseccompOpensOnceAndAnswers() {
        #expect(cseccomp_load() == 1, "\(String(cString: vitro_library_error()))")
        #expect(cseccomp_load() == 1)
        #expect(cseccomp_syscall_resolve_name("mount") == 165)  // x86_64
        let v = cseccomp_version()
        #expect((v?.pointee.major ?? 0) >= 2)
    }

    @Test func libcryptoHashesThroughTheTable() {
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        #expect(Digest.sha256(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
