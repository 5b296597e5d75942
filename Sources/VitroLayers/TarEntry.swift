// One member of a tar archive, as the reader hands it out: what kind of object, its
// name, metadata and (for a regular file) how many bytes of content follow. The
// names are exactly as the archive spells them (after pax and GNU long names have
// been applied); deciding whether a name is safe to create is the unpacker's job
// (`LayerPath`), not the reader's.

import VitroSys

/// An extended attribute carried by a pax `SCHILY.xattr.NAME` record (xattr(7)).
public struct ExtendedAttribute: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

public struct TarEntry: Sendable, Equatable {
    /// The object types of tar(5) that a layer may contain.
    public enum Kind: String, Sendable, Equatable {
        case regular = "file"
        case directory = "dir"
        case symlink
        case hardLink = "hardlink"
        case characterDevice = "char"
        case blockDevice = "block"
        case fifo
    }

    /// Position in the archive, counting entries (not the pax or GNU headers that
    /// describe them) from 1.
    public var index: Int
    public var path: String
    public var kind: Kind
    /// Permission bits with set-user-ID, set-group-ID and sticky (mode & 07777).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var userName: String
    public var groupName: String
    /// Bytes of content that follow the header (regular files only; 0 otherwise).
    public var size: Int64
    public var modified: FileTime
    /// Access time, when a pax header carried one.
    public var accessed: FileTime?
    /// For a symlink, where it points; for a hard link, the archive name of the file
    /// it is another name for.
    public var linkTarget: String
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var xattrs: [ExtendedAttribute]

    public init(
        index: Int, path: String, kind: Kind, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0,
        userName: String = "", groupName: String = "", size: Int64 = 0, modified: FileTime = FileTime(seconds: 0),
        accessed: FileTime? = nil, linkTarget: String = "", deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
        xattrs: [ExtendedAttribute] = []
    ) {
        self.index = index
        self.path = path
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.groupName = groupName
        self.size = size
        self.modified = modified
        self.accessed = accessed
        self.linkTarget = linkTarget
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.xattrs = xattrs
    }

    /// `entry 3 "etc/passwd"`: how errors and traces name this entry.
    public var label: String { TarEntry.label(index, path) }

    static func label(_ index: Int, _ path: String) -> String {
        path.isEmpty ? "entry \(index)" : "entry \(index) \"\(path)\""
    }
}
