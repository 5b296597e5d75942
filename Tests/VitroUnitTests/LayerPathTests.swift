// Chapter 02, names in a layer: cleaned, refused when they could leave the snapshot,
// and whiteouts told apart from content. No root needed.

import Testing

@testable import VitroLayers

@Suite struct LayerNames {
    @Test func namesAreCleaned() throws {
        #expect(try LayerPath("./etc/passwd").components == ["etc", "passwd"])
        #expect(try LayerPath("etc//x/./y/").components == ["etc", "x", "y"])
        #expect(try LayerPath("./").isRoot)
        #expect(try LayerPath(".").relative == ".")
    }

    @Test func escapingNamesAreRefused() {
        for bad in ["/etc/passwd", "../x", "a/../../x", "a/..", "a/../b"] {
            #expect(throws: LayerPathError.self, "\(bad)") { try LayerPath(bad) }
        }
    }

    @Test func whiteoutsAreClassified() throws {
        #expect(try LayerPath("a/.wh.b").whiteout() == .remove("b"))
        #expect(try LayerPath("a/.wh..wh..opq").whiteout() == .opaque)
        #expect(try LayerPath(".wh..wh.plnk").whiteout() == .aufsMetadata)
        #expect(try LayerPath(".wh..wh.plnk/123.456").whiteout() == .aufsMetadata)
        #expect(try LayerPath("a/b.wh.c").whiteout() == .none)
        for bad in [".wh.", "a/.wh..", "a/.wh..."] {
            #expect(throws: LayerPathError.self, "\(bad)") { try LayerPath(bad).whiteout() }
        }
        #expect(throws: LayerPathError.self) { try LayerPath("a/.wh.b/c") }
    }
}
