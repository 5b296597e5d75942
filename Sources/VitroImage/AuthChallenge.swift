// Chapter 01: the registry's auth dance starts with a challenge.
//
// A registry that wants credentials answers 401 with `WWW-Authenticate` (RFC 7235):
//
//     Bearer realm="https://auth.example/token",service="registry.example",scope="repository:x:pull"
//     Basic realm="Registry Realm"
//
// Bearer means "get a token from realm for this service and scope, then send it";
// Basic means "send user:password with every request". The header is a scheme and
// comma-separated key=value parameters whose values may be quoted with \-escapes; one
// header may even carry several challenges, so the parser keeps them apart.

public struct AuthChallenge: Sendable, Equatable {
    /// Lower-cased: "bearer" or "basic" (or a scheme vitro does not speak).
    public var scheme: String
    /// Parameter names are lower-cased; values are as sent.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String] = [:]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    public var scope: String? { parameters["scope"] }

    /// Every challenge in one WWW-Authenticate value.
    public static func parse(_ header: String) -> [AuthChallenge] {
        var s = Array(header.utf8)[...]
        var out: [AuthChallenge] = []
        func skipSpace() { while let c = s.first, c == 32 || c == 9 || c == 44 { s = s.dropFirst() } }
        func token() -> String {
            var t: [UInt8] = []
            while let c = s.first, c != 32, c != 9, c != 44, c != 61 { t.append(c); s = s.dropFirst() }
            return String(decoding: t, as: UTF8.self)
        }
        while true {
            skipSpace()
            let scheme = token()
            if scheme.isEmpty { break }
            var challenge = AuthChallenge(scheme: scheme)
            // Parameters follow until a word that is not followed by "=" starts the next challenge.
            while true {
                skipSpace()
                let save = s
                let key = token()
                guard !key.isEmpty, s.first == 61 else {
                    s = save
                    break
                }
                s = s.dropFirst()  // "="
                var value: [UInt8] = []
                if s.first == 34 {
                    s = s.dropFirst()
                    while let c = s.first {
                        s = s.dropFirst()
                        if c == 34 { break }
                        if c == 92, let n = s.first { value.append(n); s = s.dropFirst(); continue }
                        value.append(c)
                    }
                } else {
                    while let c = s.first, c != 44, c != 32, c != 9 { value.append(c); s = s.dropFirst() }
                }
                challenge.parameters[key.lowercased()] = String(decoding: value, as: UTF8.self)
            }
            out.append(challenge)
        }
        return out
    }
}
