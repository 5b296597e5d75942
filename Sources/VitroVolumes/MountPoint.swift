// Chapter 06: one mount of a container, once vitro has decided where its data lives.
// The container's record keeps the list (so `start` mounts the same volumes again,
// `volume rm` knows a volume is in use, and `rm -v` which anonymous volumes to remove),
// and `inspect` shows it as Docker's `.Mounts`.

import VitroTrace

public struct MountPoint: Sendable, Equatable {
    public var type: MountType
    /// volume: the volume's name; otherwise "".
    public var name = ""
    /// The host path mounted: the user's (bind) or the volume's `_data` directory; "" for tmpfs.
    public var source: String
    public var destination: String
    /// The options as the user wrote them (`ro`, `ro,rslave`).
    public var mode = ""
    public var rw = true
    /// bind: the propagation asked for; nil is Docker's default, rprivate.
    public var propagation: Propagation?
    /// volume: fill it with the image's content at `destination` while it is empty.
    public var copyUp = false
    /// bind: MS_REC.
    public var recursive = true
    /// tmpfs: the mount data (size=…,mode=…).
    public var tmpfsData = ""
    /// volume: made for this mount without a name (`-v /data`, an image's VOLUME), so
    /// `rm -v` and `--rm` remove it; a volume the run named (`-v NAME:/data`) they leave,
    /// even an anonymous one, as Docker does.
    public var anonymous = false

    public init(type: MountType, name: String = "", source: String, destination: String) {
        self.type = type
        self.name = name
        self.source = source
        self.destination = destination
    }

    public var driver: String { type == .volume ? "local" : "" }

    /// Docker's Propagation column: rprivate for a bind unless asked otherwise, "" for the rest.
    public var shownPropagation: String { type == .bind ? (propagation ?? .rprivate).rawValue : "" }

    /// What `inspect` shows, field for field as Docker's `.Mounts`.
    public func inspectJSON() -> JSONValue {
        var m: [(String, JSONValue)] = [("Type", .string(type.rawValue))]
        if type == .volume { m.append(("Name", .string(name))) }
        m += [("Source", .string(source)), ("Destination", .string(destination))]
        if type == .volume { m.append(("Driver", .string(driver))) }
        m += [("Mode", .string(mode)), ("RW", .bool(rw)), ("Propagation", .string(shownPropagation))]
        return .object(m)
    }

    /// What the container's record keeps: inspect's fields and what a restart needs.
    public func json() -> JSONValue {
        guard case .object(var m) = inspectJSON() else { return inspectJSON() }
        if let propagation { m.append(("PropagationAsked", .string(propagation.rawValue))) }
        m += [("CopyUp", .bool(copyUp)), ("Recursive", .bool(recursive)), ("TmpfsData", .string(tmpfsData)), ("Anonymous", .bool(anonymous))]
        return .object(m)
    }

    public init(json v: JSONValue) throws(VolumeError) {
        guard let t = v["Type"]?.string.flatMap(MountType.init(rawValue:)), let dest = v["Destination"]?.string else {
            throw VolumeError("mount record: no Type or Destination")
        }
        self.init(type: t, name: v["Name"]?.string ?? "", source: v["Source"]?.string ?? "", destination: dest)
        mode = v["Mode"]?.string ?? ""
        rw = v["RW"]?.bool ?? true
        propagation = v["PropagationAsked"]?.string.flatMap(Propagation.init(rawValue:))
        copyUp = v["CopyUp"]?.bool ?? false
        recursive = v["Recursive"]?.bool ?? true
        tmpfsData = v["TmpfsData"]?.string ?? ""
        anonymous = v["Anonymous"]?.bool ?? false
    }
}
