// Chain IDs (OCI image-spec config.md, "Layer ChainID"). A layer's diffID names its
// content, but a snapshot is a layer *on top of* the layers below it: the same tar
// applied over a different base is a different filesystem. The chain ID names the
// whole stack up to a layer:
//
//     ChainID(L0) = DiffID(L0)
//     ChainID(Ln) = SHA256(ChainID(Ln-1) + " " + DiffID(Ln))
//
// with the digests written out as "sha256:<hex>". Two images that share their first n
// layers share the first n chain IDs, and so share those snapshots on disk.

import VitroImage

public enum ChainID {
    /// The chain ID of a layer with diffID `diffID` on top of the stack `parent`.
    public static func next(parent: Digest?, diffID: Digest) -> Digest {
        guard let parent else { return diffID }
        return Digest.sha256(Array("\(parent) \(diffID)".utf8))
    }

    /// The chain IDs of a list of layers, lowest first.
    public static func chain(_ diffIDs: [Digest]) -> [Digest] {
        var out: [Digest] = []
        for d in diffIDs { out.append(next(parent: out.last, diffID: d)) }
        return out
    }
}
