// Chapter 07: who the command runs as. `--user` (or the image's `User`, or `exec -u`)
// is `UID[:GID]` or `NAME[:GROUP]`, looked up in the container's own /etc/passwd and
// /etc/group, after pivot_root, as runc does (libcontainer/user): the names are the
// image's, not the host's. The supplementary groups are every group that lists the
// user as a member, and HOME is the user's home directory unless the environment sets
// it.

/// A user as asked for, before lookup.
public struct UserSpec: Sendable, Equatable {
    public var user: String
    public var group: String?

    /// "1000", "1000:1000", "nobody", "app:staff". Throws on an empty part.
    public init(_ text: String) throws(InitError) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let u = parts.first, !u.isEmpty, parts.count == 1 || !parts[1].isEmpty, !text.contains("\n") else {
            throw InitError(code: 125, "invalid user \"\(text)\": expected UID[:GID] or NAME[:GROUP]")
        }
        user = u
        group = parts.count == 2 ? parts[1] : nil
    }

    /// True for root given as root, 0 or 0:0 (no lookup needed to know the answer).
    public var isRoot: Bool { (user == "0" || user == "root") && (group == nil || group == "0" || group == "root") }
}

/// The ids the command gets.
public struct ResolvedUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public var home: String
}

extension UserSpec {
    /// Looks the user up in passwd(5) and group(5) text (the container's files; empty
    /// when a file is missing). A numeric uid needs no passwd entry (gid 0 and home /
    /// then, as runc has it); a name must have one.
    public func resolve(passwd: String, group groupFile: String) throws(InitError) -> ResolvedUser {
        let users = UserSpec.entries(passwd)
        let groups = UserSpec.entries(groupFile)
        var out: ResolvedUser
        var name: String?
        if let entry = users.first(where: { $0.first == user }) ?? (UInt32(user) != nil ? users.first(where: { $0.count > 2 && $0[2] == user }) : nil),
            entry.count >= 6, let uid = UInt32(entry[2]), let gid = UInt32(entry[3])
        {
            out = ResolvedUser(uid: uid, gid: gid, groups: [], home: entry[5].isEmpty ? "/" : entry[5])
            name = entry[0]
        } else if let uid = UInt32(user) {
            out = ResolvedUser(uid: uid, gid: 0, groups: [], home: "/")
        } else {
            throw InitError(code: 125, "unable to find user \(user): no matching entries in passwd file")
        }
        if let group {
            if let entry = groups.first(where: { $0.first == group }), entry.count >= 3, let gid = UInt32(entry[2]) {
                out.gid = gid
            } else if let gid = UInt32(group) {
                out.gid = gid
            } else {
                throw InitError(code: 125, "unable to find group \(group): no matching entries in group file")
            }
        } else if let name {
            // Supplementary groups only when the group was not given explicitly (runc).
            for entry in groups where entry.count >= 4 {
                let members = entry[3].split(separator: ",").map(String.init)
                if members.contains(name), let gid = UInt32(entry[2]), !out.groups.contains(gid) { out.groups.append(gid) }
            }
        }
        return out
    }

    /// The colon-separated fields of each line that is not blank or a comment.
    static func entries(_ text: String) -> [[String]] {
        text.split(separator: "\n").compactMap { line in
            let l = line.drop(while: { $0 == " " || $0 == "\t" })
            if l.isEmpty || l.hasPrefix("#") { return nil }
            return l.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }
}
