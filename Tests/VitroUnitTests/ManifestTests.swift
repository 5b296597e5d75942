// Manifests, indexes, platform choice and image configs, from documents shaped like
// the ones Docker Hub and OCI registries serve.

import Testing

@testable import VitroImage

@Suite struct ManifestTests {
    static func d(_ c: Character) -> String { "sha256:" + String(repeating: c, count: 64) }

    static let dockerManifest = """
        {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
         "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1457,"digest":"\(d("a"))"},
         "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2219949,"digest":"\(d("b"))"},
                   {"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":32,"digest":"\(d("c"))"}]}
        """

    static let index = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
         {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("1"))","size":610,"platform":{"architecture":"arm","os":"linux","variant":"v6"}},
         {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("2"))","size":610,"platform":{"architecture":"arm","os":"linux","variant":"v7"}},
         {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("3"))","size":610,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
         {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("4"))","size":610,"platform":{"architecture":"amd64","os":"linux"}},
         {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("5"))","size":566,"platform":{"architecture":"unknown","os":"unknown"},
          "annotations":{"vnd.docker.reference.type":"attestation-manifest"}},
         {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\(d("6"))","size":610,"platform":{"architecture":"amd64","os":"windows"}}]}
        """

    @Test func dockerSchema2Manifest() throws {
        guard case .manifest(let m) = try ManifestDocument.parse(Array(Self.dockerManifest.utf8)) else {
            Issue.record("not a manifest")
            return
        }
        #expect(m.mediaType == MediaType.dockerManifest)
        #expect(m.config.digest.description == Self.d("a"))
        #expect(m.config.size == 1457)
        #expect(m.layers.map(\.size) == [2219949, 32])
    }

    @Test func ociIndexAndPlatformChoice() throws {
        guard case .index(let i) = try ManifestDocument.parse(Array(Self.index.utf8)) else {
            Issue.record("not an index")
            return
        }
        #expect(i.manifests.count == 6)
        func pick(_ p: String) throws -> String? { try Platform.parse(p).select(from: i.manifests)?.digest.description }
        #expect(try pick("linux/amd64") == Self.d("4"))
        #expect(try pick("amd64") == Self.d("4"))
        #expect(try pick("linux/x86_64") == Self.d("4"))
        #expect(try pick("linux/arm64") == Self.d("3"), "arm64 means arm64/v8")
        #expect(try pick("linux/aarch64/v8") == Self.d("3"))
        #expect(try pick("linux/arm/v7") == Self.d("2"))
        #expect(try pick("linux/arm") == Self.d("2"), "arm means arm/v7")
        #expect(try pick("linux/arm/v6") == Self.d("1"))
        #expect(try pick("linux/arm/v8") == Self.d("2"), "a v8 CPU runs v7 code; the nearest variant wins")
        #expect(try pick("linux/arm/v5") == nil)
        #expect(try pick("windows/amd64") == Self.d("6"))
        #expect(try pick("linux/s390x") == nil)
        #expect(Platform.current.os == "linux")
    }

    @Test func badPlatforms() {
        for p in ["", "linux/", "a/b/c/d", "linux/amd 64"] {
            #expect(throws: ImageError.self) { try Platform.parse(p) }
        }
    }

    @Test func mediaTypeFromHeaderOrShape() throws {
        let bare = #"{"schemaVersion":2,"manifests":[]}"#
        guard case .index = try ManifestDocument.parse(Array(bare.utf8)) else { Issue.record("not an index"); return }
        let listHeader = #"{"schemaVersion":2,"manifests":[]}"#
        guard case .index(let i) = try ManifestDocument.parse(Array(listHeader.utf8), contentType: "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8")
        else { Issue.record("not a list"); return }
        #expect(i.mediaType == MediaType.dockerManifestList)
    }

    @Test func refusesWhatItCannotUse() {
        let cases: [(String, String)] = [
            (#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#, "manifest is Docker schema 1, which vitro (like current Docker) does not support"),
            ("[1]", "manifest is not a JSON object"),
            (#"{"schemaVersion":2,"mediaType":"text/html"}"#, "unsupported manifest media type \"text/html\""),
            (#"{"schemaVersion":2,"config":{"digest":"sha256:abc","size":1},"layers":[]}"#, "manifest config: unsupported or invalid digest \"sha256:abc\""),
            (#"{"schemaVersion":2,"config":{"digest":"\#(Self.d("a"))","size":-1},"layers":[]}"#, "manifest config: descriptor \(Self.d("a")) has no valid size"),
            (#"{"schemaVersion":2,"config":{"digest":"\#(Self.d("a"))","size":1}}"#, "manifest without \"layers\""),
        ]
        for (doc, message) in cases {
            #expect { try ManifestDocument.parse(Array(doc.utf8)) } throws: { ($0 as? ImageError)?.message == message }
        }
    }

    static let config = """
        {"architecture":"arm64","variant":"v8","os":"linux","created":"2024-04-02T10:11:12.123456789Z","author":"someone",
         "config":{"User":"1000:1000","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Env":["PATH=/bin","A=b=c"],
                   "Entrypoint":["/docker-entrypoint.sh"],"Cmd":null,"Volumes":{"/data":{}},"WorkingDir":"/srv",
                   "Labels":{"maintainer":"x","version":"1"},"StopSignal":"SIGQUIT"},
         "rootfs":{"type":"layers","diff_ids":["\(d("d"))","\(d("e"))"]},
         "history":[{"created":"2024-04-02T10:11:12Z","created_by":"ADD rootfs.tar /"},
                    {"created":"2024-04-02T10:11:13Z","created_by":"ENV A=b=c","empty_layer":true},
                    {"created":"2024-04-02T10:11:14Z","created_by":"RUN x","comment":"buildkit"}]}
        """

    @Test func imageConfig() throws {
        let c = try ImageConfig.parse(Array(Self.config.utf8))
        #expect(c.platform == Platform(os: "linux", architecture: "arm64"))
        #expect(c.user == "1000:1000")
        #expect(c.exposedPorts == ["80/tcp", "53/udp"])
        #expect(c.env == ["PATH=/bin", "A=b=c"])
        #expect(c.entrypoint == ["/docker-entrypoint.sh"])
        #expect(c.cmd == nil)
        #expect(c.volumes == ["/data"])
        #expect(c.workingDir == "/srv")
        #expect(c.labels.map(\.0) == ["maintainer", "version"])
        #expect(c.stopSignal == "SIGQUIT")
        #expect(c.diffIDs.map(\.description) == [Self.d("d"), Self.d("e")])
        #expect(c.history.map(\.emptyLayer) == [false, true, false])
        #expect(c.history.last?.comment == "buildkit")
        #expect(parseRFC3339(c.created ?? "") == 1712052672)
    }

    @Test func configsWithoutLayersAreRefused() {
        #expect(throws: ImageError.self) { try ImageConfig.parse(Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)) }
        #expect(throws: ImageError.self) { try ImageConfig.parse(Array(#"{"rootfs":{"type":"layers","diff_ids":["md5:x"]}}"#.utf8)) }
    }

    @Test func rfc3339() {
        #expect(parseRFC3339("1970-01-01T00:00:00Z") == 0)
        #expect(parseRFC3339("2000-02-29T12:00:00+02:00") == 951818400)
        #expect(parseRFC3339("2024-05-01T12:00:00.5Z") == 1714564800)
        #expect(parseRFC3339("2024-05-01") == nil)
        #expect(parseRFC3339("2024-13-01T00:00:00Z") == nil)
    }
}
