// swift-tools-version: 6.2
//
// vitro: a container engine that shows its work. Module layout and direction are
// described in ../shared/DESIGN.md and README.md: chapter modules import only modules of
// earlier chapters plus VitroTrace and VitroSys; VitroRuntime is the one composer.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "vitro",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vitro", targets: ["vitro"]),
        .executable(name: "vitro-init", targets: ["vitro-init"]),
    ],
    targets: [
        // C: only what Swift's Glibc module hides, and the fork→exec window.
        .target(name: "CVitroShim"),
        // Native libraries (Debian: libcap-dev, libseccomp-dev, libpcap-dev). libseccomp and
        // libpcap, like libcrypto, zlib and libzstd below, are opened with dlopen on first
        // use, not linked (see each module's shim.h; CVitroShim holds the loader): every
        // vitro and vitro-init process would otherwise load them, and libpcap's
        // dependencies, before main. So no pkg-config for them (it would add -l flags);
        // their headers are in /usr/include.
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CSeccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CPcap", providers: [.apt(["libpcap-dev"])]),
        // HTTP(S) for registries, SHA-256 with SHA-NI (OpenSSL), and layer decompression.
        // libcurl, libcrypto, zlib and libzstd are opened with dlopen on first use (see
        // Sources/CCurl/shim.h and the others), not linked.
        .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", providers: [.apt(["libzstd-dev"])]),
        // nftables (chapter 05). VitroSys opens libnftables with dlopen so that vitro-init
        // does not load it; this module is its header, checked against VitroSys's
        // declarations by a native-library test.
        .systemLibrary(name: "CNftables", pkgConfig: "libnftables", providers: [.apt(["libnftables-dev"])]),

        // Chapter 00: the leaf (events, sinks) and the only door to the kernel.
        .target(name: "VitroTrace", swiftSettings: strict),
        .target(name: "VitroSys", dependencies: ["VitroTrace", "CVitroShim"], swiftSettings: strict),
        // Chapter 01: images (for now the built-in busybox image made offline).
        .target(name: "VitroImage", dependencies: ["VitroSys", "VitroTrace", "CVitroShim", "CCrypto", "CCurl"], swiftSettings: strict),
        // Chapter 02: layers: tar, decompression, whiteouts, snapshots, the overlay rootfs.
        .target(name: "VitroLayers", dependencies: ["VitroImage", "VitroSys", "VitroTrace", "CVitroShim", "CZlib", "CZstd"], swiftSettings: strict),
        // Chapter 03: namespaces, the mount namespace and the container's root.
        .target(name: "VitroNamespaces", dependencies: ["VitroSys", "VitroTrace"], swiftSettings: strict),
        // Chapter 04: cgroups, v1 and v2.
        .target(name: "VitroCgroups", dependencies: ["VitroNamespaces", "VitroSys", "VitroTrace"], swiftSettings: strict),
        // Chapter 05: network: rtnetlink, the bridge, veths, IPAM, NAT, published ports.
        .target(name: "VitroNetwork", dependencies: ["VitroSys", "VitroTrace"], swiftSettings: strict),
        // Chapter 05: packet-path capture with libpcap at each hop, merged into packet events.
        .target(name: "VitroCapture", dependencies: ["VitroSys", "VitroTrace", "CVitroShim", "CPcap"], swiftSettings: strict),
        // Chapter 06: volumes: bind mounts, named and anonymous volumes, the mount plan
        // pid 1 applies inside the container's root before pivot_root.
        .target(name: "VitroVolumes", dependencies: ["VitroNamespaces", "VitroSys", "VitroTrace"], swiftSettings: strict),
        // Chapter 07: exec and pid 1, privileges (capabilities, seccomp through libseccomp, the
        // user, rlimits), and the contract between vitro and vitro-init.
        .target(name: "VitroExec", dependencies: ["VitroVolumes", "VitroNamespaces", "VitroSys", "VitroTrace", "CVitroShim", "CSeccomp"], swiftSettings: strict),
        // Chapter 08: the composer of the stages.
        .target(name: "VitroRuntime", dependencies: ["VitroImage", "VitroLayers", "VitroCgroups", "VitroNetwork", "VitroVolumes", "VitroExec", "VitroNamespaces", "VitroSys", "VitroTrace"], swiftSettings: strict),
        // Chapter 09: diff, commit, export/import, save/load: writing layers (tar, gzip,
        // zstd, blobs hashed as they are written) and image archives.
        .target(name: "VitroCommit", dependencies: ["VitroRuntime", "VitroImage", "VitroLayers", "VitroSys", "VitroTrace", "CVitroShim", "CZlib", "CZstd"], swiftSettings: strict),
        // Chapter 10: build: a Dockerfile, step by step: RUN in a container of the pipeline
        // (chapter 08) committed as a layer (chapter 09), ADD/COPY from the build context, a
        // layer cache.
        .target(name: "VitroBuild", dependencies: ["VitroCommit", "VitroRuntime", "VitroImage", "VitroLayers", "VitroSys", "VitroTrace"], swiftSettings: strict),
        // Chapter 11: registries: push (layers compressed as they leave), login, search.
        .target(name: "VitroRegistry", dependencies: ["VitroCommit", "VitroImage", "VitroLayers", "VitroSys", "VitroTrace"], swiftSettings: strict),
        // Chapter 12: reading, normalising and (later) replaying traces. VitroTrace only.
        .target(name: "VitroReplay", dependencies: ["VitroTrace"], swiftSettings: strict),
        // Walkthroughs: the pipeline with a pause and an explanation between stages.
        .target(name: "VitroLearn", dependencies: ["VitroRuntime", "VitroNamespaces", "VitroSys", "VitroTrace"], swiftSettings: strict),
        // The command line's parser: flags, options and arguments declared as property
        // wrappers, read with Docker's rules. vitro's own rather than swift-argument-parser,
        // which brought Foundation into the binary and a millisecond into every start
        // (Sources/VitroCommandLine/Declarations.swift says more).
        .target(name: "VitroCommandLine", swiftSettings: strict),

        .executableTarget(
            name: "vitro",
            dependencies: [
                "VitroCommandLine", "VitroRuntime", "VitroCommit", "VitroBuild", "VitroRegistry", "VitroLearn", "VitroImage", "VitroReplay", "VitroCapture", "VitroCgroups", "VitroExec", "VitroNetwork", "VitroVolumes", "VitroTrace", "VitroSys",
            ],
            exclude: ["StaticLibstdcxx"],
            swiftSettings: strict,
            // What every vitro process pays before main, cut (Benchmarks/README.md, part 6):
            // libstdc++ linked in, not loaded (StaticLibstdcxx/libstdc++.so says how), and
            // libgcc too, so that only libc and libm are loaded and relocated; and no
            // dynamic symbol table of vitro's own 7,354 symbols (the Swift toolchain exports
            // them all), which the Swift runtime's start-up walks once with dladdr. vitro
            // looks nothing up in itself with dlsym. Test bundles that depend on vitro are
            // linked with these settings too, and run with them.
            linkerSettings: [.unsafeFlags([
                "-L", Context.packageDirectory + "/Sources/vitro/StaticLibstdcxx",
                "-Xclang-linker", "-static-libgcc",
                "-Xlinker", "--no-export-dynamic",
            ])]),
        .executableTarget(
            name: "vitro-init",
            dependencies: ["VitroExec", "VitroNamespaces", "VitroSys", "VitroTrace"],
            swiftSettings: strict,
            // A static executable: no dynamic loader, libstdc++ or relocations of a 15 MB
            // PIE before main, which cost every container start about 1.5 ms. It needs
            // nothing from glibc that wants shared objects (no NSS, no dlopen is called).
            // Not a dependency of the test targets for that reason: a test bundle that
            // depends on an executable target is linked with its linker settings. lld (in
            // the Swift toolchain), because gold warns about dlopen in a static executable
            // (the Swift runtime and VitroSys refer to it; vitro-init never calls it).
            linkerSettings: [.unsafeFlags(["-static-executable", "-use-ld=lld"])]),

        .testTarget(
            name: "VitroUnitTests",
            dependencies: ["CVitroShim", "CSeccomp", "VitroCommandLine", "VitroTrace", "VitroSys", "VitroImage", "VitroLayers", "VitroNamespaces", "VitroCgroups", "VitroNetwork", "VitroVolumes", "VitroExec", "VitroRuntime", "VitroCommit", "VitroBuild", "VitroRegistry", "VitroLearn", "VitroReplay", "VitroCapture"],
            swiftSettings: strict),
        .testTarget(
            name: "VitroNativeLibTests",
            dependencies: ["CCap", "CSeccomp", "CPcap", "CNftables"],
            swiftSettings: strict,
            // CSeccomp and CPcap no longer link their libraries (vitro opens them with
            // dlopen); this test calls the libraries' own functions, so it links them.
            linkerSettings: [.linkedLibrary("seccomp"), .linkedLibrary("pcap")]),
        .testTarget(
            name: "VitroIntegrationTests",
            dependencies: ["VitroTrace", "VitroReplay", "VitroRuntime", "VitroCommit", "VitroLayers", "VitroImage", "VitroSys", "VitroCgroups", "vitro"],
            swiftSettings: strict),
    ]
)
