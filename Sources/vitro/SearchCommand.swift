// vitro search: a private registry's repositories, from /v2/_catalog.

import VitroCommandLine
import VitroImage

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search a registry's repositories.",
        discussion: """
            REGISTRY/TERM lists the repositories of REGISTRY (its /v2/_catalog) whose \
            name contains TERM, in Docker's columns. Docker Hub's search API is not \
            the distribution API and is not supported.
            """)

    @Option("--limit", help: "At most this many results.") var limit = 25
    @Option("--insecure-registry", help: "Reach this registry (host[:port]) over plain HTTP. Repeatable.") var insecureRegistry: [String] = []
    @Argument("term", help: "REGISTRY/TERM (TERM may be empty).") var term: String

    func run() throws {
        guard let slash = term.firstIndex(of: "/"), term[..<slash].contains(where: { $0 == "." || $0 == ":" }) || term.hasPrefix("localhost/") else {
            fail("search \(term): give a registry: REGISTRY/TERM (Docker Hub's search is not supported)")
        }
        guard limit > 0 && limit <= 100 else { fail("search: --limit \(limit): must be between 1 and 100") }
        let domain = String(term[..<slash])
        let word = String(term[term.index(after: slash)...])
        let client = RegistryClient(domain: domain, insecureRegistries: insecureRegistry, credentials: DockerConfig.credentials(for: domain))
        let names: [String]
        do {
            try client.ping()
            names = try client.catalog(limit: 1000)
        } catch { fail("search \(term): \(error)") }
        let found = names.filter { word.isEmpty || $0.contains(word) }.prefix(limit)
        var rows = [["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]]
        for n in found { rows.append([domain + "/" + n, "", "0", "", ""]) }
        let width = rows.map { $0[0].count }.max() ?? 4
        for r in rows {
            print(r[0] + String(repeating: " ", count: width - r[0].count + 3) + r[1] + String(repeating: " ", count: 14 - r[1].count) + r[2] + String(repeating: " ", count: 10 - r[2].count) + r[3] + String(repeating: " ", count: 11 - r[3].count) + r[4])
        }
    }
}
