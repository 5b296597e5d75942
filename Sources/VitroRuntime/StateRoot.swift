// Chapter 08: where vitro keeps its state. `--root` or VITRO_ROOT override the
// default /var/lib/vitro, which is what every test does so that runs never share state.
//
// What only means something while containers live is kept apart, in the run root, as
// runc keeps its state in /run: the files bound into a container's /etc, its published
// ports, the address allocations. /run is a tmpfs on most machines, so writing them
// costs no disk I/O and a reboot (which ends every container) clears them. The run
// root of /var/lib/vitro is /run/vitro; VITRO_RUN_ROOT overrides it, and any other
// state root keeps its run root inside itself (`ROOT/run`), so that two roots (two
// tests) never share one and removing a root removes its run-time state too.

import VitroSys

#if canImport(Glibc)
import Glibc
#endif

public struct StateRoot: Sendable {
    public static let defaultPath = "/var/lib/vitro"
    public var path: String
    /// Run-time state: gone after a reboot (see above).
    public var runPath: String

    public init(path: String? = nil, runPath: String? = nil) {
        if let path, !path.isEmpty {
            self.path = path
        } else if let env = getenv("VITRO_ROOT"), env.pointee != 0 {
            self.path = String(cString: env)
        } else {
            self.path = StateRoot.defaultPath
        }
        if let runPath, !runPath.isEmpty {
            self.runPath = runPath
        } else if let env = getenv("VITRO_RUN_ROOT"), env.pointee != 0 {
            self.runPath = String(cString: env)
        } else {
            self.runPath = StateRoot.runPath(for: self.path)
        }
    }

    /// The run root that goes with a state root when none is given.
    public static func runPath(for path: String) -> String {
        var p = path
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p == defaultPath ? "/run/vitro" : p + "/run"
    }

    public var traces: String { path + "/traces" }
    /// ipam.json: the addresses of live containers (chapter 05).
    public var network: String { runPath + "/network" }
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
