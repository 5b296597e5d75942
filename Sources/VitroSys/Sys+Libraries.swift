// Native libraries opened on first use. libpcap, libcrypto, libseccomp, zlib and libzstd
// (like libcurl, and libnftables above) are not linked: each module's shim.h keeps a
// table of the functions vitro calls, filled by dlopen(3) and dlsym(3) the first time
// (CVitroShim's vitro_library_load), so a process that never captures, hashes a blob or
// compiles a filter never maps them. vitro-init maps none of them.

import CVitroShim

extension Sys {
    /// Why the last native library could not be opened: dlerror's text, or the function
    /// it lacks. For errors such as `load libpcap.so.0.8: …: cannot open shared object file`.
    public static var libraryLoadError: String { String(cString: vitro_library_error()) }
}
