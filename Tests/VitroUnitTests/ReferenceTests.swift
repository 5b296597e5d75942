// Image references against the cases of Docker's reference grammar
// (distribution/reference reference_test.go and normalize_test.go).

import Testing

@testable import VitroImage

@Suite struct ReferenceTests {
    static let ffff = String(repeating: "f", count: 64)

    /// (input, normalised string, domain, path, familiar)
    static let valid: [(String, String, String, String, String)] = [
        ("busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "library/busybox", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "busybox:latest"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "busybox:latest"),
        ("user/repo", "docker.io/user/repo:latest", "docker.io", "user/repo", "user/repo:latest"),
        ("user/repo:tag", "docker.io/user/repo:tag", "docker.io", "user/repo", "user/repo:tag"),
        ("localhost/x", "localhost/x:latest", "localhost", "x", "localhost/x:latest"),
        ("localhost:5000/x:1", "localhost:5000/x:1", "localhost:5000", "x", "localhost:5000/x:1"),
        ("127.0.0.1:5000/repo:tag", "127.0.0.1:5000/repo:tag", "127.0.0.1:5000", "repo", "127.0.0.1:5000/repo:tag"),
        ("test:5000/repo", "test:5000/repo:latest", "test:5000", "repo", "test:5000/repo:latest"),
        ("test.com/repo:tag", "test.com/repo:tag", "test.com", "repo", "test.com/repo:tag"),
        ("test.com:5000", "docker.io/library/test.com:5000", "docker.io", "library/test.com", "test.com:5000"),
        ("test_com", "docker.io/library/test_com:latest", "docker.io", "library/test_com", "test_com:latest"),
        ("foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "foo/foo_bar.com:8080"),
        ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
        ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "b.gcr.io/test.example.com/my-app:test.example.com"),
        ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com/myimage:xn--n3h.com"),
        ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "192.168.1.1:5000/repo:5050"),
        ("[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "[2001:db8::1]:5000/repo:tag"),
        ("[::1]:5000/repo", "[::1]:5000/repo:latest", "[::1]:5000", "repo", "[::1]:5000/repo:latest"),
        ("lowercase:Uppercase", "docker.io/library/lowercase:Uppercase", "docker.io", "library/lowercase", "lowercase:Uppercase"),
        ("Foo/bar", "Foo/bar:latest", "Foo", "bar", "Foo/bar:latest"),
        ("a__b/c--d/e.f_g", "docker.io/a__b/c--d/e.f_g:latest", "docker.io", "a__b/c--d/e.f_g", "a__b/c--d/e.f_g:latest"),
    ]

    @Test(arguments: valid)
    func parsesAsDockerDoes(_ c: (String, String, String, String, String)) throws {
        let r = try Reference.parse(c.0)
        #expect(r.description == c.1)
        #expect(r.domain == c.2)
        #expect(r.path == c.3)
        #expect(r.familiar == c.4)
    }

    @Test func digestsWinOverTags() throws {
        let d = "sha256:" + Self.ffff
        let r = try Reference.parse("test:5000/repo:tag@" + d)
        #expect(r.digest?.description == d)
        #expect(r.tag == nil)
        #expect(r.description == "test:5000/repo@" + d)
        let b = try Reference.parse("busybox@" + d)
        #expect(b.description == "docker.io/library/busybox@" + d)
        #expect(b.familiar == "busybox@" + d)
        #expect(b.familiarName == "busybox")
    }

    static let invalid: [(String, String)] = [
        ("", "repository name must have at least one component"),
        (":justtag", "invalid reference format"),
        ("@sha256:" + ffff, "invalid reference format"),
        ("repo@sha256:ffffffffffffffffffffffffffffffffff", "invalid checksum digest length"),
        ("validname@invaliddigest:" + ffff, "unsupported digest algorithm"),
        ("Uppercase:tag", "invalid reference format: repository name (library/Uppercase) must be lowercase"),
        ("test:5000/Uppercase/lowercase:tag", "invalid reference format: repository name (Uppercase/lowercase) must be lowercase"),
        (String(repeating: "a/", count: 128) + "a:tag", "repository name must not be more than 255 characters"),
        ("aa/asdf$$^/aa", "invalid reference format"),
        ("[2001:db8::1]", "invalid reference format"),
        ("[2001:db8::1]:5000", "invalid reference format"),
        ("[fe80::1%eth0]:5000/repo", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("busybox:-tag", "invalid reference format"),
        ("busybox:" + String(repeating: "t", count: 129), "invalid reference format"),
        ("a//b", "invalid reference format"),
        ("a/b_", "invalid reference format"),
        ("a/-b", "invalid reference format"),
        (ffff, "invalid repository name (\(ffff)), cannot specify 64-byte hexadecimal strings"),
    ]

    @Test(arguments: invalid)
    func rejectsWithDockersMessage(_ c: (String, String)) {
        #expect(throws: ReferenceError(c.1)) { try Reference.parse(c.0) }
    }

    @Test func sha512IsRecognisedButNotVerifiable() {
        let d = "sha512:" + String(repeating: "f", count: 128)
        #expect(throws: ReferenceError("digest algorithm sha512 is not supported (vitro verifies sha256 only)")) {
            try Reference.parse("repo@" + d)
        }
    }

    @Test func knowsWhetherTheTagWasGiven() {
        #expect(!Reference.hasExplicitTagOrDigest("busybox"))
        #expect(!Reference.hasExplicitTagOrDigest("localhost:5000/busybox"))
        #expect(Reference.hasExplicitTagOrDigest("localhost:5000/busybox:1"))
        #expect(Reference.hasExplicitTagOrDigest("busybox@sha256:" + Self.ffff))
    }

    @Test func registryEndpoints() {
        #expect(RegistryClient.endpoint(for: "docker.io", insecureRegistries: []) == "https://registry-1.docker.io")
        #expect(RegistryClient.endpoint(for: "127.0.0.1:5000", insecureRegistries: []) == "http://127.0.0.1:5000")
        #expect(RegistryClient.endpoint(for: "127.1.2.3", insecureRegistries: []) == "http://127.1.2.3")
        #expect(RegistryClient.endpoint(for: "localhost:5000", insecureRegistries: []) == "http://localhost:5000")
        #expect(RegistryClient.endpoint(for: "[::1]:5000", insecureRegistries: []) == "http://[::1]:5000")
        #expect(RegistryClient.endpoint(for: "registry.example:5000", insecureRegistries: []) == "https://registry.example:5000")
        #expect(RegistryClient.endpoint(for: "registry.example:5000", insecureRegistries: ["registry.example:5000"]) == "http://registry.example:5000")
        #expect(RegistryClient.endpoint(for: "registry.example", insecureRegistries: ["registry.example"]) == "http://registry.example")
        #expect(RegistryClient.endpoint(for: "128.0.0.1:5000", insecureRegistries: []) == "https://128.0.0.1:5000")
    }
}
