// vitro login / logout: a registry's credentials in Docker's config.json.

import VitroCommandLine
import VitroImage

#if canImport(Glibc)
import Glibc
#endif

struct LoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in to a registry.",
        discussion: """
            Checks the credentials against the registry's /v2/ and stores them as \
            `docker login` does, in $DOCKER_CONFIG/config.json or ~/.docker/config.json \
            (base64 of user:password, mode 0600). pull and push use them.
            """)

    @Option("-u", "--username", help: "User name.") var username: String?
    @Option("-p", "--password", help: "Password.") var password: String?
    @Flag("--password-stdin", help: "Read the password from STDIN.") var passwordStdin = false
    @Option("--insecure-registry", help: "Reach this registry (host[:port]) over plain HTTP. Repeatable.") var insecureRegistry: [String] = []
    @Argument("server", help: "The registry (host[:port]).") var server: String

    func run() throws {
        let domain = registryDomain(server)
        guard let username, !username.isEmpty else { fail("login \(domain): give a user name with -u") }
        var secret = password
        if passwordStdin {
            if password != nil { fail("login \(domain): --password and --password-stdin are mutually exclusive") }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }
            secret = String(decoding: bytes, as: UTF8.self)
        }
        guard let secret, !secret.isEmpty else { fail("login \(domain): give a password with -p or --password-stdin") }
        guard let path = DockerConfig.defaultPath else { fail("login \(domain): neither DOCKER_CONFIG nor HOME is set") }
        let credentials = Credentials(username: username, password: secret)
        let client = RegistryClient(domain: domain, insecureRegistries: insecureRegistry, credentials: credentials)
        do { try client.checkLogin() } catch { fail("login \(domain): \(error)") }
        do { try DockerConfig.store(credentials, for: domain, path: path) } catch { fail("login \(domain): \(path): \(error)") }
        print("Login Succeeded")
    }
}

struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Log out from a registry (remove its stored credentials).")

    @Argument("server", help: "The registry (host[:port]).") var server: String

    func run() throws {
        let domain = registryDomain(server)
        guard let path = DockerConfig.defaultPath else { fail("logout \(domain): neither DOCKER_CONFIG nor HOME is set") }
        let existed: Bool
        do { existed = try DockerConfig.store(nil, for: domain, path: path) } catch { fail("logout \(domain): \(path): \(error)") }
        print(existed ? "Removing login credentials for \(domain)" : "Not logged in to \(domain)")
    }
}

/// `http://host:5000/` → `host:5000`; Docker Hub's names → docker.io.
func registryDomain(_ server: String) -> String {
    var s = Substring(server)
    if let r = s.firstRange(of: "://") { s = s[r.upperBound...] }
    if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
    let host = String(s)
    return ["index.docker.io", "registry-1.docker.io", "docker.io", ""].contains(host) ? Reference.defaultDomain : host
}
