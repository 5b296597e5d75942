// Chapters point into the code by symbol, never by line number:
// `Sources/VitroNamespaces/RootfsPlan.swift:/func apply/` names a file and a literal
// text in it. Every such anchor must resolve, so a chapter cannot silently go stale.

import Foundation
import Testing

@Suite struct ChapterAnchors {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func anchors(in text: String) -> [(file: String, needle: String)] {
        let re = try? NSRegularExpression(pattern: #"((?:Sources|Tests)/[A-Za-z0-9_+./-]+\.(?:swift|c|h)):/([^/`]+)/"#)
        let range = NSRange(text.startIndex..., in: text)
        return (re?.matches(in: text, range: range) ?? []).compactMap { m in
            guard let f = Range(m.range(at: 1), in: text), let n = Range(m.range(at: 2), in: text) else { return nil }
            return (String(text[f]), String(text[n]))
        }
    }

    @Test func everyAnchorResolves() throws {
        let dir = Self.root.appendingPathComponent("Chapters")
        let chapters = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".md") }.sorted()
        #expect(chapters.contains("00-tour.md") && chapters.contains("03-namespaces.md"))
        var broken: [String] = []
        var count = 0
        for chapter in chapters {
            let text = try String(contentsOf: dir.appendingPathComponent(chapter), encoding: .utf8)
            #expect(text.range(of: #"\.swift:\d+"#, options: .regularExpression) == nil, "\(chapter) points at a line number")
            for a in Self.anchors(in: text) {
                count += 1
                let source = try? String(contentsOf: Self.root.appendingPathComponent(a.file), encoding: .utf8)
                if source?.contains(a.needle) != true { broken.append("\(chapter): \(a.file):/\(a.needle)/") }
            }
        }
        #expect(count >= 10, "chapters should point into the code")
        #expect(broken.isEmpty, "anchors that no longer resolve:\n\(broken.joined(separator: "\n"))")
    }

    @Test func theAnchorCheckNoticesABrokenAnchor() {
        let found = Self.anchors(in: "see `Sources/VitroSys/Sys.swift:/static func invoke/` and `Sources/VitroSys/Sys.swift:/no such text/`")
        #expect(found.count == 2)
        let source = (try? String(contentsOf: Self.root.appendingPathComponent("Sources/VitroSys/Sys.swift"), encoding: .utf8)) ?? ""
        #expect(source.contains(found[0].needle))
        #expect(!source.contains(found[1].needle))
    }
}
