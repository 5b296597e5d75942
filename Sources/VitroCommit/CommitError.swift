// The one error type of VitroCommit: what went wrong with which object, lower-case,
// without a trailing period. The CLI adds the command (`commit web: …`).

public struct CommitError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
