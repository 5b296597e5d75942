// Chapter 10: the layer cache. A step is the same step when it starts from the same
// image and says the same thing: the key is the SHA-256 of the parent image's id and
// the step's history line (for RUN its command and the build args in force, for ADD
// and COPY the digest of what they copy, for the rest their text after substitution).
// The value is the image the step made; a hit is used only while that image is still in
// the store. One small file per key under `<root>/build/cache`, and an empty file under
// `<root>/build/parents` for each image a step was built on: `images` hides those when
// they have no name, as `docker images` hides intermediate images (images with a child).

import VitroImage
import VitroSys

struct BuildCache {
    let directory: String

    let parents: String

    init(root: String) {
        directory = root + "/build/cache"
        parents = root + "/build/parents"
    }

    static func key(parent: Digest?, step: String) -> Digest {
        Digest.sha256(Array("\(parent?.description ?? "scratch")\n\(step)".utf8))
    }

    func lookup(_ key: Digest, images: ImageStore) -> StoredImage? {
        guard let text = try? Sys.readText(directory + "/" + key.hex), let id = Digest(String(text.prefix { $0 != "\n" })) else { return nil }
        return (try? images.image(id: id)) ?? nil
    }

    func store(_ key: Digest, image: Digest, parent: Digest?) {
        do {
            try Sys.mkdirAll(directory, mode: 0o700, why: "the build cache: which image each step made")
            try Sys.writeFileAtomically(
                directory + "/" + key.hex, Array((image.description + "\n").utf8), durable: false,
                why: "remember the image this step made, for the next build of the same step")
            if let parent {
                try Sys.mkdirAll(parents, mode: 0o700, why: "the images build steps were made on")
                try Sys.writeFileAtomically(parents + "/" + parent.hex, [], durable: false, why: "this image has a child: an intermediate image of a build")
            }
        } catch {
            // A cache that cannot be written costs the next build time, not this one its result.
        }
    }

    /// The images a build step was made on.
    func parentImages() -> Set<Digest> {
        Set(Sys.listDirectory(parents).compactMap { Digest("sha256:" + $0) })
    }
}
