// Chapter 11: the docker config file `vitro login` writes and pull/push read.

import Foundation
import Testing
import VitroSys

@testable import VitroImage

@Suite struct DockerConfigTests {
    func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    @Test func loginWritesDockersShapeAndKeepsTheRest() throws {
        let old = Array(#"{"credsStore":"","auths":{"other:5000":{"auth":"eDp5"}},"HttpHeaders":{"X":"1"}}"#.utf8)
        let (bytes, existed) = try DockerConfig.updated(old, registry: "127.0.0.1:5000", credentials: Credentials(username: "alice", password: "pa:ss"))
        #expect(!existed)
        let v = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let auths = try #require(v["auths"] as? [String: Any])
        #expect((auths["127.0.0.1:5000"] as? [String: Any])?["auth"] as? String == Data("alice:pa:ss".utf8).base64EncodedString())
        #expect((auths["other:5000"] as? [String: Any])?["auth"] as? String == "eDp5", "other registries are kept")
        #expect((v["HttpHeaders"] as? [String: Any])?["X"] as? String == "1", "other keys are kept")
        #expect(v["credsStore"] as? String == "")
    }

    @Test func logoutRemovesOnlyThatRegistry() throws {
        let old = Array(#"{"auths":{"http://reg:5000/v2/":{"auth":"YTpi"},"other:1":{"auth":"eDp5"}}}"#.utf8)
        let (bytes, existed) = try DockerConfig.updated(old, registry: "reg:5000", credentials: nil)
        #expect(existed, "an entry keyed by URL is the registry's too")
        #expect(text(bytes) == #"{"auths":{"other:1":{"auth":"eDp5"}}}"# + "\n")
        let (again, was) = try DockerConfig.updated(bytes, registry: "reg:5000", credentials: nil)
        #expect(!was && again == bytes)
    }

    @Test func dockerHubIsKeyedByItsHistoricalURL() throws {
        let (bytes, _) = try DockerConfig.updated(nil, registry: "docker.io", credentials: Credentials(username: "u", password: "p"))
        #expect(text(bytes) == #"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}}}"# + "\n")
    }

    @Test func invalidFileIsRefused() {
        #expect(throws: ImageError.self) { try DockerConfig.updated(Array("[1]".utf8), registry: "r", credentials: nil) }
        #expect(throws: ImageError.self) { try DockerConfig.updated(Array("{".utf8), registry: "r", credentials: nil) }
    }

    @Test func storeWritesAFileOnlyItsOwnerReadsAndPullReadsIt() throws {
        let dir = NSTemporaryDirectory() + "vitro-dockercfg-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/nested/config.json"
        try DockerConfig.store(Credentials(username: "bob", password: "pw"), for: "localhost:5000", path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(DockerConfig.credentials(for: "localhost:5000", path: path) == Credentials(username: "bob", password: "pw"))
        #expect(DockerConfig.credentials(for: "localhost:5001", path: path) == nil)
        #expect(try DockerConfig.store(nil, for: "localhost:5000", path: path))
        #expect(DockerConfig.credentials(for: "localhost:5000", path: path) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/nested") == ["config.json"], "no temporary file left")
    }
}
