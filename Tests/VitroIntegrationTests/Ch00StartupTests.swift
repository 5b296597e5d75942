// Chapter 00: what a vitro process loads before it does anything. libpcap, libcrypto,
// libseccomp, zlib, libzstd (like libcurl and libnftables) are opened with dlopen when
// first used, not linked, and vitro-init is a static executable. The dynamic loader's
// own record (LD_DEBUG=files) says which shared objects a process opened.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch00Startup {
        /// Libraries only some commands need: none of them is loaded unless used.
        static let optional = ["libpcap", "libcrypto", "libseccomp", "libzstd", "libz.so", "libcurl", "libnftables"]

        /// The shared objects the dynamic loader opened for vitro (its `file=` lines).
        func loaded(_ stderr: String) -> [String] {
            stderr.split(separator: "\n").compactMap { line in
                guard let r = line.range(of: "file=") else { return nil }
                let rest = line[r.upperBound...]
                return String(rest.prefix { $0 != " " && $0 != ";" })
            }
        }

        @Test func versionLoadsNoOptionalLibrary() throws {
            let o = try runProcess(Binaries.vitro, ["--version"], env: ["LD_DEBUG": "files"])
            #expect(o.status == 0)
            #expect(o.stdout == "vitro version 0.1.0\n")
            let libs = loaded(o.stderr)
            #expect(libs.contains { $0.hasPrefix("libc.so") }, "LD_DEBUG said nothing: \(o.stderr.prefix(300))")
            for lib in Self.optional {
                #expect(!libs.contains { $0.hasPrefix(lib) }, "vitro --version loaded \(lib): \(libs)")
            }
        }

        @Test func runWithoutNetworkLoadsOnlyLibseccomp() throws {
            try leavesNothing {
                let box = try Sandbox()
                var env = box.env
                env["LD_DEBUG"] = "files"
                let o = try runProcess(Binaries.vitro, ["run", "--rm", "--net", "none", "--rootfs", box.rootfs, "/bin/true"], env: env)
                #expect(o.status == 0, "\(o.stderr.suffix(500))")
                let libs = loaded(o.stderr)
                // Docker's default profile is compiled (or found in the cache, whose key
                // names libseccomp's version): libseccomp is opened, when needed.
                #expect(libs.contains { $0.hasPrefix("libseccomp") }, "\(libs)")
                #expect(o.stderr.contains("dynamically loaded by"), "libseccomp should come from dlopen")
                for lib in Self.optional where lib != "libseccomp" {
                    #expect(!libs.contains { $0.hasPrefix(lib) }, "run --net none loaded \(lib): \(libs)")
                }
                // Unconfined: no filter, so not even libseccomp.
                let u = try runProcess(
                    Binaries.vitro, ["run", "--rm", "--net", "none", "--security-opt", "seccomp=unconfined", "--rootfs", box.rootfs, "/bin/true"],
                    env: env)
                #expect(u.status == 0, "\(u.stderr.suffix(500))")
                #expect(!loaded(u.stderr).contains { $0.hasPrefix("libseccomp") })
            }
        }

        /// vitro-init starts on every container start: no dynamic loader, no shared
        /// objects (an ELF file without a PT_INTERP program header), so nothing to map
        /// or relocate before main.
        @Test func vitroInitIsStatic() throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: Binaries.dir + "/vitro-init"))
            let b = [UInt8](data)
            #expect(b.count > 64 && b[0] == 0x7f && b[1] == UInt8(ascii: "E") && b[4] == 2, "not a 64-bit ELF file")
            func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
            func u64(_ o: Int) -> Int { (0..<8).reduce(0) { $0 | Int(b[o + $1]) << (8 * $1) } }
            let phoff = u64(32), phentsize = u16(54), phnum = u16(56)
            #expect(phnum > 0)
            let types = (0..<phnum).map { i in u16(phoff + i * phentsize) }
            #expect(!types.contains(3), "vitro-init has a PT_INTERP: it is dynamically linked")
            #expect(!types.contains(2), "vitro-init has a PT_DYNAMIC: it needs shared objects")
            // And it still does its work.
            let box = try Sandbox()
            try leavesNothing {
                let o = try box.run(["/bin/echo", "static"], extra: ["--rm"])
                #expect(o.status == 0 && o.stdout == "static\n", "\(o.stderr)")
            }
        }
    }
}
