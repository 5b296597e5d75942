// Chapter 08: where vitro keeps its state. `--root` or VITRO_ROOT override the
// default /var/lib/vitro, which is what every test does so that runs never share state.

import VitroSys

#if canImport(Glibc)
import Glibc
#endif

public struct StateRoot: Sendable {
    public var path: String

    public init(path: String? = nil) {
        if let path, !path.isEmpty {
            self.path = path
        } else if let env = getenv("VITRO_ROOT"), env.pointee != 0 {
            self.path = String(cString: env)
        } else {
            self.path = "/var/lib/vitro"
        }
    }

    public var traces: String { path + "/traces" }
}

/// Container ids are 64 hex digits, as Docker's; the hostname is the first 12.
public enum ContainerID {
    public static func make() -> String {
        var g = SystemRandomNumberGenerator()
        var s = ""
        for _ in 0..<4 {
            var hex = String(g.next() as UInt64, radix: 16)
            while hex.count < 16 { hex = "0" + hex }
            s += hex
        }
        return s
    }
}
