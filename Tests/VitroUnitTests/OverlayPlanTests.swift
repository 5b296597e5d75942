// Chapter 02, the overlay plan: lowerdir lists the top layer first, and what cannot be
// written in mount options is refused before the runtime tries.

import Testing

@testable import VitroLayers

@Suite struct OverlayPlans {
    @Test func lowerdirListsTheTopLayerFirst() throws {
        let plan = OverlayPlan(layers: ["/s/base/fs", "/s/mid/fs", "/s/top/fs"], containerDir: "/c/1")
        #expect(try plan.options() == "lowerdir=/s/top/fs:/s/mid/fs:/s/base/fs,upperdir=/c/1/upper,workdir=/c/1/work")
        #expect(try plan.shell() == "mount -t overlay overlay -o lowerdir=/s/top/fs:/s/mid/fs:/s/base/fs,upperdir=/c/1/upper,workdir=/c/1/work /c/1/merged")
        #expect(plan.directoriesToCreate == ["/c/1/upper", "/c/1/work", "/c/1/merged"])
    }

    @Test func anImageWithoutLayersGetsAnEmptyLowerDirectory() throws {
        let plan = OverlayPlan(layers: [], containerDir: "/c/2")
        #expect(try plan.options() == "lowerdir=/c/2/empty,upperdir=/c/2/upper,workdir=/c/2/work")
        #expect(plan.directoriesToCreate.contains("/c/2/empty"))
    }

    @Test func pathsThatCannotBeWrittenInTheOptionsAreRefused() {
        #expect {
            try OverlayPlan(layers: ["/s/a,b"], containerDir: "/c").options()
        } throws: { e in
            "\(e)" == "overlay: /s/a,b: a path in overlay options cannot contain ',', ':' or '\\'"
        }
        #expect(throws: LayerError.self) { try OverlayPlan(layers: ["relative"], containerDir: "/c").options() }
        let many = (0..<60).map { "/var/lib/vitro/snapshots/" + String(repeating: "\($0 % 10)", count: 64) + "/fs" }
        #expect(throws: LayerError.self) { try OverlayPlan(layers: many, containerDir: "/c").options() }
    }
}
