// pax extended headers (POSIX.1-2001, the `pax` format of tar(5)): a header of type
// 'x' whose content is records of the form "LENGTH KEY=VALUE\n", where LENGTH counts
// the whole record, itself and the newline included. The records override the fields
// of the next entry's header: `path` and `linkpath` lift the 100-byte name limits,
// `size`, `uid`, `gid` and `mtime` lift the octal field limits (and give mtime its
// fraction), and GNU tar and libarchive write extended attributes as
// `SCHILY.xattr.NAME`. Values are bytes: an xattr value may hold anything, newlines
// included, which is why records are split by length and not by line.

import VitroSys

struct PaxRecords {
    var path: String?
    var linkpath: String?
    var size: Int64?
    var uid: Int64?
    var gid: Int64?
    var uname: String?
    var gname: String?
    var mtime: FileTime?
    var atime: FileTime?
    var xattrs: [ExtendedAttribute] = []

    /// Parses the content of an 'x' header. `label` names the entry in errors.
    init(_ data: [UInt8], label: String) throws(LayerError) {
        func bad(_ message: String) -> LayerError { LayerError("tar", label, "bad pax header: " + message) }
        var i = 0
        while i < data.count {
            // Some writers pad the content with NULs; nothing follows them.
            if data[i] == 0 { break }
            guard let space = data[i...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: data[i..<space], as: UTF8.self)),
                length > space - i + 1, i + length <= data.count, data[i + length - 1] == UInt8(ascii: "\n")
            else { throw bad("malformed record at byte \(i)") }
            let record = data[(space + 1)..<(i + length - 1)]
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")),
                let key = String(validating: record[record.startIndex..<eq], as: UTF8.self)
            else { throw bad("record without a key at byte \(i)") }
            let value = Array(record[(eq + 1)...])
            try apply(key, value, label: label)
            i += length
        }
    }

    private mutating func apply(_ key: String, _ value: [UInt8], label: String) throws(LayerError) {
        func bad(_ message: String) -> LayerError { LayerError("tar", label, "bad pax header: " + message) }
        // An empty value cancels the record: the header's own field applies.
        if value.isEmpty && !key.hasPrefix("SCHILY.xattr.") { return }
        func text() throws(LayerError) -> String {
            guard let s = String(validating: value, as: UTF8.self), !s.utf8.contains(0) else {
                throw bad("\(key) is not UTF-8 text")
            }
            return s
        }
        func integer() throws(LayerError) -> Int64 {
            guard let n = Int64(try text()), n >= 0 else { throw bad("\(key) is not a number") }
            return n
        }
        switch key {
        case "path": path = try text()
        case "linkpath": linkpath = try text()
        case "size": size = try integer()
        case "uid": uid = try integer()
        case "gid": gid = try integer()
        case "uname": uname = try text()
        case "gname": gname = try text()
        case "mtime":
            guard let t = PaxRecords.time(try text()) else { throw bad("mtime is not a time") }
            mtime = t
        case "atime":
            guard let t = PaxRecords.time(try text()) else { throw bad("atime is not a time") }
            atime = t
        default:
            if key.hasPrefix("SCHILY.xattr.") {
                xattrs.append(ExtendedAttribute(name: String(key.dropFirst("SCHILY.xattr.".count)), value: value))
            } else if key.hasPrefix("GNU.sparse.") {
                throw LayerError("tar", label, "sparse files (\(key)) are not supported")
            }
            // Anything else (ctime, comment, charset, SCHILY.dev, LIBARCHIVE.*) does
            // not change what is unpacked.
        }
    }

    /// "1700000000", "1700000000.5", "-1.25": seconds since the epoch with an optional
    /// fraction, kept to nanoseconds.
    static func time(_ s: String) -> FileTime? {
        var text = Substring(s)
        let negative = text.hasPrefix("-")
        if negative { text = text.dropFirst() }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCII), let secs = Int64(whole) else {
            return nil
        }
        var nanos: Int32 = 0
        if parts.count == 2 {
            let frac = parts[1]
            guard frac.allSatisfy({ $0 >= "0" && $0 <= "9" }) else { return nil }
            var digits = String(frac.prefix(9))
            while digits.count < 9 { digits += "0" }
            nanos = Int32(digits) ?? 0
        }
        if !negative { return FileTime(seconds: secs, nanoseconds: nanos) }
        // -1.25 is 1.25 s before the epoch: seconds -2, nanoseconds 750000000.
        return nanos == 0
            ? FileTime(seconds: -secs, nanoseconds: 0) : FileTime(seconds: -secs - 1, nanoseconds: 1_000_000_000 - nanos)
    }
}
