// The registry conversation's pieces without a network: WWW-Authenticate challenges,
// credentials from Docker's config file, base64, and curl lines without secrets.

import Foundation
import Testing

@testable import VitroImage

@Suite struct RegistryProtocolTests {
    @Test func bearerChallenge() {
        let c = AuthChallenge.parse(#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#)
        #expect(c.count == 1)
        #expect(c.first?.scheme == "bearer")
        #expect(c.first?.realm == "https://auth.docker.io/token")
        #expect(c.first?.service == "registry.docker.io")
        #expect(c.first?.scope == "repository:library/busybox:pull")
    }

    @Test func basicChallengeAndOddSpellings() {
        #expect(AuthChallenge.parse(#"Basic realm="Registry Realm""#) == [AuthChallenge(scheme: "basic", parameters: ["realm": "Registry Realm"])])
        // Case of scheme and names, spaces after commas, unquoted values, escaped quotes.
        let c = AuthChallenge.parse(#"BEARER Realm=http://127.0.0.1:1/token, Service="a \"b\"", error="insufficient_scope""#)
        #expect(c.first?.scheme == "bearer")
        #expect(c.first?.realm == "http://127.0.0.1:1/token")
        #expect(c.first?.service == #"a "b""#)
        #expect(c.first?.parameters["error"] == "insufficient_scope")
    }

    @Test func severalChallengesInOneHeader() {
        let c = AuthChallenge.parse(#"Basic realm="r", Bearer realm="https://t/token",service="s""#)
        #expect(c.map(\.scheme) == ["basic", "bearer"])
        #expect(c.last?.service == "s")
        #expect(AuthChallenge.parse("").isEmpty)
    }

    @Test func base64BothWays() {
        for s in ["", "a", "ab", "abc", "alice:s3cret", "üñí:cødé"] {
            let b = Base64.encode(Array(s.utf8))
            #expect(b == Data(s.utf8).base64EncodedString())
            #expect(Base64.decode(b) == Array(s.utf8))
        }
        #expect(Base64.decode("not*base64") == nil)
    }

    @Test func credentialsFromDockerConfig() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/config.json"
        let hub = Data("hubuser:hubpass".utf8).base64EncodedString()
        let local = Data("alice:pa:ss".utf8).base64EncodedString()
        try """
            {"auths": {"https://index.docker.io/v1/": {"auth": "\(hub)"},
                       "127.0.0.1:5000": {"auth": "\(local)"},
                       "https://registry.example": {"username": "bob", "password": "pw"}}}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(DockerConfig.credentials(for: "docker.io", path: path) == Credentials(username: "hubuser", password: "hubpass"))
        #expect(DockerConfig.credentials(for: "127.0.0.1:5000", path: path) == Credentials(username: "alice", password: "pa:ss"))
        #expect(DockerConfig.credentials(for: "registry.example", path: path) == Credentials(username: "bob", password: "pw"))
        #expect(DockerConfig.credentials(for: "other:1", path: path) == nil)
        #expect(DockerConfig.credentials(for: "docker.io", path: dir + "/missing.json") == nil)
        #expect(Credentials(username: "alice", password: "s3cret").basicHeader == "Basic YWxpY2U6czNjcmV0")
    }

    @Test func curlLinesHideSecrets() {
        let bearer = HTTPRequest(url: "https://r.example/v2/x/manifests/latest", headers: ["Accept: a, b"], authorization: "Bearer abc.def.ghi", why: "w")
        #expect(bearer.curlCommand == #"curl -sS -H 'Accept: a, b' -H "Authorization: Bearer $TOKEN" https://r.example/v2/x/manifests/latest"#)
        let basic = HTTPRequest(method: "HEAD", url: "http://127.0.0.1:5000/v2/", authorization: "Basic YWxpY2U6czNjcmV0", why: "w")
        #expect(basic.curlCommand == #"curl -sS -I -u "$REGISTRY_USER:$REGISTRY_PASSWORD" http://127.0.0.1:5000/v2/"#)
    }

    @Test func urlPartsAndQueryEncoding() {
        #expect(URLParts("https://Registry.Example:443/v2/")?.authority == "registry.example")
        #expect(URLParts("https://registry.example/v2/") == URLParts("https://registry.example:443/v2/"))
        #expect(URLParts("http://127.0.0.1:5000/v2/")?.authority != URLParts("http://127.0.0.1:5001/v2/")?.authority)
        #expect(percentEncode("repository:library/busybox:pull") == "repository%3Alibrary%2Fbusybox%3Apull")
    }
}
