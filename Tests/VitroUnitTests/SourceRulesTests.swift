// Style rules that a test can hold: only VitroSys calls the kernel for a privileged
// effect; no force unwraps or try! in Sources.

import Foundation
import Testing

@Suite struct SourceRules {
    /// The package root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func swiftFiles(under dir: String) -> [(String, String)] {
        let base = root.appendingPathComponent(dir)
        guard let e = FileManager.default.enumerator(atPath: base.path) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.compactMap { rel in
            let path = base.appendingPathComponent(rel).path
            return (try? String(contentsOfFile: path, encoding: .utf8)).map { (dir + "/" + rel, $0) }
        }
    }

    static let privileged = [
        "mount", "umount", "umount2", "pivot_root", "unshare", "setns", "clone", "clone3", "fork", "vfork",
        "sethostname", "execve", "execv", "execvp", "chdir", "fchdir", "mkdir", "mknod", "kill", "waitpid",
        "wait4", "prctl", "chroot", "symlink", "unlink", "rmdir", "rename", "chmod", "chown", "setsid", "posix_spawn",
    ]

    @Test func onlyVitroSysCallsTheKernel() throws {
        let pattern = try NSRegularExpression(
            pattern: #"(?<![.\w])(?:Glibc\.)?(\#(Self.privileged.joined(separator: "|"))|vitro_\w+)\s*\("#)
        var offenders: [String] = []
        let files = Self.swiftFiles(under: "Sources").filter { !$0.0.hasPrefix("Sources/VitroSys/") }
        #expect(files.count > 10, "found no sources to check")
        for (path, text) in files {
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = Self.codeOnly(line)
                if code.contains("func ") { continue }
                let range = NSRange(code.startIndex..., in: code)
                if pattern.firstMatch(in: code, range: range) != nil { offenders.append("\(path):\(n + 1): \(code.trimmingCharacters(in: .whitespaces))") }
            }
        }
        #expect(offenders.isEmpty, "kernel calls outside VitroSys:\n\(offenders.joined(separator: "\n"))")
    }

    /// A line without its string literals and trailing comment.
    static func codeOnly(_ line: Substring) -> String {
        let noStrings = String(line).replacingOccurrences(of: #""(?:[^"\\]|\\.)*""#, with: "\"\"", options: .regularExpression)
        return noStrings.components(separatedBy: "//").first ?? ""
    }

    @Test func theCheckCatchesADirectCall() throws {
        // The same pattern must flag a direct call, so the test above can fail.
        let pattern = try NSRegularExpression(pattern: #"(?<![.\w])(?:Glibc\.)?(mount|vitro_\w+)\s*\("#)
        for bad in ["    _ = mount(src, dst, nil, 0, nil)", "vitro_unshare(flags)", "Glibc.mount(a)"] {
            #expect(pattern.firstMatch(in: bad, range: NSRange(bad.startIndex..., in: bad)) != nil, "\(bad)")
        }
        let ok = "try Sys.mount(source: nil, target: t)"
        #expect(pattern.firstMatch(in: ok, range: NSRange(ok.startIndex..., in: ok)) == nil)
    }

    @Test func noForceUnwrapOrTryBangInSources() {
        var offenders: [String] = []
        for (path, text) in Self.swiftFiles(under: "Sources") {
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                if code.contains("try!") || code.range(of: #"\w[!](?:[.)\s,]|$)"#, options: .regularExpression) != nil && !code.contains("!=") {
                    offenders.append("\(path):\(n + 1)")
                }
            }
        }
        #expect(offenders.isEmpty, "force unwraps in \(offenders)")
    }

    @Test func nothingOnTheStartPathImportsFoundation() {
        // vitro-init and the modules it links must not pay for Foundation at start-up.
        let startPath = ["Sources/vitro-init", "Sources/VitroExec", "Sources/VitroNamespaces", "Sources/VitroVolumes", "Sources/VitroSys", "Sources/VitroTrace", "Sources/VitroRuntime", "Sources/vitro", "Sources/VitroImage", "Sources/VitroLearn"]
        var offenders: [String] = []
        for dir in startPath {
            for (path, text) in Self.swiftFiles(under: dir) where text.range(of: #"(?m)^\s*(@_exported\s+)?import\s+Foundation\s*$"#, options: .regularExpression) != nil {
                offenders.append(path)
            }
        }
        #expect(offenders.isEmpty, "Foundation imported in \(offenders)")
    }
}
