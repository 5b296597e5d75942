// Chapter 01: platforms, and choosing one manifest from an index.
//
// A multi-platform image is an index (OCI) or manifest list (Docker) whose entries are
// manifests, each for one `os/architecture[/variant]`. vitro picks the entry for the
// platform it runs on (or `--platform`), the way containerd's platforms package does:
// names are normalised first (x86_64 is amd64, aarch64 is arm64, armhf is arm/v7), an
// exact variant wins, and a request without a variant takes the architecture's default
// variant (arm64: v8, amd64: v1) or, failing that, the best one the CPU can run.

public struct Platform: Hashable, Sendable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    public init(os: String, architecture: String, variant: String? = nil) {
        let (arch, v) = Self.normalize(architecture: architecture.lowercased(), variant: variant?.lowercased())
        self.os = os.lowercased()
        self.architecture = arch
        self.variant = v
    }

    /// `linux/amd64`, `linux/arm64/v8`.
    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }

    /// The platform this build of vitro runs on.
    public static var current: Platform {
        #if arch(x86_64)
        return Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        return Platform(os: "linux", architecture: "arm64")
        #elseif arch(arm)
        return Platform(os: "linux", architecture: "arm", variant: "v7")
        #else
        return Platform(os: "linux", architecture: "amd64")
        #endif
    }

    /// Parses `os/arch[/variant]` or just `arch` (which means linux), as `--platform`.
    public static func parse(_ text: String) throws(ImageError) -> Platform {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" } }) else {
            throw ImageError("\"\(text)\": invalid platform: expected os/arch[/variant] (for example linux/arm64)")
        }
        if parts.count == 1 { return Platform(os: "linux", architecture: parts[0]) }
        return Platform(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
    }

    /// containerd's normalisation of architecture names and variants.
    static func normalize(architecture: String, variant: String?) -> (String, String?) {
        switch architecture {
        case "i386": return ("386", nil)
        case "x86_64", "x86-64", "amd64": return ("amd64", variant == "v1" ? nil : variant)
        case "aarch64", "arm64": return ("arm64", variant == "v8" || variant == "8" ? nil : variant)
        case "armhf": return ("arm", "v7")
        case "armel": return ("arm", "v6")
        case "arm":
            switch variant {
            case nil, "7", "v7": return ("arm", "v7")
            case "5", "6", "8": return ("arm", "v" + (variant ?? ""))
            default: return ("arm", variant)
            }
        default: return (architecture, variant)
        }
    }

    /// How well an entry's platform serves `self`: nil for not at all, then lower is
    /// better (0 an exact match, then older variants the CPU still runs).
    func rank(of candidate: Platform) -> Int? {
        guard candidate.os == os, candidate.architecture == architecture else { return nil }
        if candidate.variant == variant { return 0 }
        // An arm CPU of variant vN runs code built for any vM with M < N.
        guard let want = variant.flatMap(Self.variantNumber), let have = candidate.variant.flatMap(Self.variantNumber) else {
            return nil
        }
        return have < want ? want - have : nil
    }

    static func variantNumber(_ v: String) -> Int? {
        v.hasPrefix("v") ? Int(v.dropFirst()) : nil
    }

    /// The entry of `manifests` to use on this platform, or nil when none fits.
    public func select(from manifests: [Descriptor]) -> Descriptor? {
        var best: (Int, Descriptor)?
        for m in manifests {
            guard let p = m.platform, let r = rank(of: p) else { continue }
            if best == nil || r < (best?.0 ?? Int.max) { best = (r, m) }
        }
        return best?.1
    }
}
