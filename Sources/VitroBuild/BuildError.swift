// The one error type of VitroBuild: what went wrong with which step or file, lower-case,
// without a trailing period. `code` is the exit status `vitro build` reports: a RUN
// whose command failed passes its exit code on (as `docker build` does), anything else
// is vitro's own error (125).

public struct BuildError: Error, CustomStringConvertible {
    public var message: String
    public var code: Int32
    public init(_ message: String, code: Int32 = 125) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}
