// The one error type of VitroLayers: what vitro was doing, to what, and what went
// wrong, in one line: `tar: entry 3 "etc/passwd": bad checksum`,
// `untar: entry 2 "../canary/x": path leaves the snapshot (".." component)`.
// A kernel error inside a step keeps its SysError, so the errno is not lost.

import VitroSys

public struct LayerError: Error, CustomStringConvertible, Equatable {
    /// The step: "tar", "gzip", "zstd", "untar", "unpack", "overlay".
    public var operation: String
    /// What it was applied to: `entry 3 "etc/passwd"`, a layer's digest, a path.
    public var object: String
    /// What went wrong, lower case, no trailing period.
    public var message: String
    /// The kernel's error, when a system call failed.
    public var underlying: SysError?

    public init(_ operation: String, _ object: String, _ message: String, underlying: SysError? = nil) {
        self.operation = operation
        self.object = object
        self.message = message
        self.underlying = underlying
    }

    /// A failed system call while working on `object`.
    init(_ operation: String, _ object: String, _ error: SysError) {
        self.init(operation, object, error.description, underlying: error)
    }

    public var description: String {
        object.isEmpty ? "\(operation): \(message)" : "\(operation): \(object): \(message)"
    }
}
