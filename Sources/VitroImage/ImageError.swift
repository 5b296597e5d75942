// The one error type of VitroImage: a message that names the object (an image, a
// blob, a registry) and what went wrong with it, lower-case and without a period. The
// CLI adds the command (`pull busybox: …`).

public struct ImageError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
