// Chapter 01: image references, parsed as Docker parses them.
//
// `busybox` is short for `docker.io/library/busybox:latest`. The grammar is the one of
// distribution/reference (reference.go, regexp.go), and the normalisation is Docker's
// (normalize.go): a first path component is a registry host only when it contains a
// `.` or a `:`, is `localhost`, or has an upper-case letter; otherwise the name lives on
// Docker Hub, and a one-component Hub name is an "official" image under `library/`.
//
//     reference   := name [ ":" tag ] [ "@" digest ]
//     name        := [domain "/"] path-component ["/" path-component]*
//     domain      := host [":" port]          (host: DNS-like name, IPv4, or [IPv6])
//     path-comp.  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//     tag         := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//     digest      := algorithm ":" hex        (vitro verifies sha256 only)
//
// The parser is written out by hand, one function per production, rather than as one
// regular expression: each rule can be read, and each error says which rule failed.

/// A reference that does not follow the grammar. The text is Docker's, so a search for
/// the message finds the same explanations.
public struct ReferenceError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static let invalidFormat = ReferenceError("invalid reference format")
    static let nameEmpty = ReferenceError("repository name must have at least one component")
    static let nameTooLong = ReferenceError("repository name must not be more than 255 characters")
    static let nameUppercase = ReferenceError("invalid reference format: repository name must be lowercase")
}

public struct Reference: Hashable, Sendable, CustomStringConvertible {
    /// The registry: `docker.io`, `localhost:5000`, `127.0.0.1:5000`, `[::1]:5000`.
    public var domain: String
    /// The repository within the registry: `library/busybox`.
    public var path: String
    /// The tag; nil when the reference names a digest.
    public var tag: String?
    /// The manifest's digest, when the reference pins one.
    public var digest: Digest?

    public static let defaultDomain = "docker.io"
    public static let defaultTag = "latest"
    static let legacyDomain = "index.docker.io"
    static let officialPrefix = "library/"

    public init(domain: String, path: String, tag: String?, digest: Digest? = nil) {
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest
    }

    /// The full repository name: `docker.io/library/busybox`.
    public var name: String { domain + "/" + path }

    /// The normalised form: `docker.io/library/busybox:latest`, or `…@sha256:…`.
    public var description: String {
        if let digest { return name + "@" + digest.description }
        return name + ":" + (tag ?? Self.defaultTag)
    }

    /// The repository as Docker shows it: `busybox`, `user/repo`, `localhost:5000/x`.
    public var familiarName: String {
        guard domain == Self.defaultDomain else { return name }
        if path.hasPrefix(Self.officialPrefix) {
            let rest = path.dropFirst(Self.officialPrefix.count)
            if !rest.contains("/") { return String(rest) }
        }
        return path
    }

    /// `busybox:latest` or `busybox@sha256:…`, as `docker pull` prints it.
    public var familiar: String {
        if let digest { return familiarName + "@" + digest.description }
        return familiarName + ":" + (tag ?? Self.defaultTag)
    }

    /// The same repository with another tag.
    public func with(tag: String) -> Reference { Reference(domain: domain, path: path, tag: tag, digest: nil) }

    /// Parses a reference the way `docker pull` does (ParseDockerRef): familiar names
    /// are normalised, `latest` is the default tag, and a reference with both a tag and
    /// a digest keeps only the digest (the digest is what gets pulled).
    public static func parse(_ text: String) throws(ReferenceError) -> Reference {
        if text.isEmpty { throw .nameEmpty }
        if text.utf8.count == 64, text.utf8.allSatisfy(isLowerHex) {
            throw ReferenceError("invalid repository name (\(text)), cannot specify 64-byte hexadecimal strings")
        }
        let (domain, remainder) = splitDomain(text)
        let remote = remainder.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? remainder
        if remote.lowercased() != remote {
            throw ReferenceError("invalid reference format: repository name (\(remote)) must be lowercase")
        }
        var ref = try parseCanonical(domain + "/" + remainder)
        if ref.digest != nil { ref.tag = nil } else if ref.tag == nil { ref.tag = defaultTag }
        return ref
    }

    /// Whether `parse` added the default tag (so `pull` can say "Using default tag").
    public static func hasExplicitTagOrDigest(_ text: String) -> Bool {
        if text.contains("@") { return true }
        let last = text.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        return last.contains(":")
    }

    /// Docker's splitDockerDomain: which part of a familiar name is the registry.
    static func splitDomain(_ name: String) -> (String, String) {
        guard let slash = name.firstIndex(of: "/") else {
            return (defaultDomain, officialPrefix + name)
        }
        let first = String(name[..<slash])
        let rest = String(name[name.index(after: slash)...])
        var domain: String
        var remote: String
        if first == "localhost" || first.contains(".") || first.contains(":") || first.lowercased() != first {
            (domain, remote) = (first, rest)
        } else {
            (domain, remote) = (defaultDomain, name)
        }
        if domain == legacyDomain { domain = defaultDomain }
        if domain == defaultDomain, !remote.contains("/") { remote = officialPrefix + remote }
        return (domain, remote)
    }

    /// Parses a reference that already names its domain (reference.Parse with a domain).
    static func parseCanonical(_ s: String) throws(ReferenceError) -> Reference {
        if s.isEmpty { throw .nameEmpty }
        // A digest follows the first "@": neither names nor tags may contain one.
        var rest = Substring(s)
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            digest = try parseDigest(rest[rest.index(after: at)...])
            rest = rest[..<at]
        }
        // A tag follows a ":" that comes after the last "/" (a ":" before it is a port).
        var tag: String?
        if let colon = rest.lastIndex(of: ":"), rest[colon...].firstIndex(of: "/") == nil {
            let t = rest[rest.index(after: colon)...]
            guard isTag(t) else { throw .invalidFormat }
            tag = String(t)
            rest = rest[..<colon]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw .invalidFormat }
        let domain = rest[..<slash]
        let path = rest[rest.index(after: slash)...]
        guard isDomain(domain) else { throw .invalidFormat }
        guard isRemoteName(path) else {
            if isRemoteName(Substring(path.lowercased())) { throw .nameUppercase }
            throw .invalidFormat
        }
        if rest.utf8.count > 255 { throw .nameTooLong }
        return Reference(domain: String(domain), path: String(path), tag: tag, digest: digest)
    }

    // MARK: the productions of the grammar

    static func isLowerHex(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 102) }
    static func isLowerAlnum(_ c: UInt8) -> Bool { (c >= 48 && c <= 57) || (c >= 97 && c <= 122) }
    static func isAlnum(_ c: UInt8) -> Bool { isLowerAlnum(c) || (c >= 65 && c <= 90) }
    static func isWord(_ c: UInt8) -> Bool { isAlnum(c) || c == UInt8(ascii: "_") }

    /// tag := [\w][\w.-]{0,127}
    static func isTag(_ t: Substring) -> Bool {
        let b = Array(t.utf8)
        guard let first = b.first, isWord(first), b.count <= 128 else { return false }
        return b.dropFirst().allSatisfy { isWord($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// remote-name := path-component ("/" path-component)*
    static func isRemoteName(_ p: Substring) -> Bool {
        let parts = p.split(separator: "/", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy(isPathComponent)
    }

    /// path-component := alnum+ (separator alnum+)*, separator := [._] | "__" | "-"+
    static func isPathComponent(_ c: Substring) -> Bool {
        let b = Array(c.utf8)
        var i = 0
        func alnumRun() -> Bool {
            let start = i
            while i < b.count, isLowerAlnum(b[i]) { i += 1 }
            return i > start
        }
        guard alnumRun() else { return false }
        while i < b.count {
            if b[i] == UInt8(ascii: ".") {
                i += 1
            } else if b[i] == UInt8(ascii: "_") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "_") { i += 1 }
            } else if b[i] == UInt8(ascii: "-") {
                while i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            } else {
                return false
            }
            guard alnumRun() else { return false }
        }
        return true
    }

    /// domain := (domain-name | "[" ipv6 "]") (":" [0-9]+)?
    static func isDomain(_ d: Substring) -> Bool {
        var host = d
        if d.hasPrefix("[") {
            guard let close = d.firstIndex(of: "]") else { return false }
            let inside = d[d.index(after: d.startIndex)..<close]
            guard !inside.isEmpty, inside.utf8.allSatisfy({ $0 == UInt8(ascii: ":") || isAlnum($0) && (isLowerHex($0 | 0x20)) })
            else { return false }
            let after = d[d.index(after: close)...]
            return after.isEmpty || isPort(after)
        }
        if let colon = d.firstIndex(of: ":") {
            guard isPort(d[colon...]) else { return false }
            host = d[..<colon]
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy(isDomainComponent)
    }

    /// ":" [0-9]+
    static func isPort(_ p: Substring) -> Bool {
        p.count >= 2 && p.first == ":" && p.dropFirst().utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    /// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
    static func isDomainComponent(_ c: Substring) -> Bool {
        let b = Array(c.utf8)
        guard let first = b.first, let last = b.last, isAlnum(first), isAlnum(last) else { return false }
        return b.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// digest := algorithm ":" hex; the algorithm must be one vitro can verify.
    static func parseDigest(_ d: Substring) throws(ReferenceError) -> Digest {
        let parts = d.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let first = parts[0].utf8.first, isAlnum(first), first > 57,
            parts[0].utf8.allSatisfy({ isAlnum($0) || "-_+.".utf8.contains($0) }),
            parts[1].utf8.count >= 32, parts[1].utf8.allSatisfy({ isLowerHex($0 | 0x20) && isAlnum($0) })
        else { throw .invalidFormat }
        switch parts[0] {
        case "sha256":
            guard parts[1].utf8.count == 64 else { throw ReferenceError("invalid checksum digest length") }
            guard let digest = Digest(String(d)) else { throw ReferenceError("invalid checksum digest format") }
            return digest
        case "sha384", "sha512":
            throw ReferenceError("digest algorithm \(parts[0]) is not supported (vitro verifies sha256 only)")
        default:
            throw ReferenceError("unsupported digest algorithm")
        }
    }
}
