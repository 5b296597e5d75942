// The flags `pull` and `push` share: how to reach a registry (plain HTTP for
// --insecure-registry hosts), whose credentials to use when not those `vitro login`
// stored, and where to write the command's trace.

import VitroCommandLine
import VitroImage

struct RegistryFlags: ParsableArguments {
    @Option("--insecure-registry", help: "Reach this registry (host[:port]) over plain HTTP. Repeatable.")
    var insecureRegistry: [String] = []

    @Option("--username", help: "User name for the registry (default: from ~/.docker/config.json).")
    var username: String?

    @Option("--password", help: "Password for the registry.")
    var password: String?

    @Option("--trace", help: "Write the trace (JSON Lines) to this file.")
    var trace: String?

    /// --username and --password, which go together; nil: the stored login, if any.
    /// `command` names the failing command in the one-line error ("push NAME").
    func credentials(_ command: String) -> Credentials? {
        guard username != nil || password != nil else { return nil }
        guard let username, let password else { fail("\(command): --username and --password go together") }
        return Credentials(username: username, password: password)
    }
}
