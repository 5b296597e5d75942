// A sandbox network for chapter 05's tests (shared/TESTING.md, "A sandbox host for
// network tests"): a network namespace that plays the host (vitro runs inside it, so
// its bridge, NAT rules and published ports live there) and one that plays the
// outside world, joined by a veth on a private /24. The machine's own interfaces,
// routes and firewall are never touched. `close` removes both namespaces.

import Foundation
import Testing

final class NetLab {
    let box: Sandbox
    let tag: String
    let host: String
    let outside: String
    /// The host's address on the link to the outside, and the outside's.
    let hostAddress: String
    let outsideAddress: String
    let bridge: String
    let bip: String
    /// The container addresses' prefix: "10.202.N.".
    let containerNet: String
    private var closed = false

    static let ip = "/usr/sbin/ip"
    static let nsenter = "/usr/bin/nsenter"

    /// `golden`: the fixed bridge and subnet scripts/make-golden uses for chapter 05's
    /// golden trace (the namespaces are new either way).
    init(golden: Bool = false) throws {
        // A child that exits before reading what a test writes to it must not kill the
        // test runner with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        box = try Sandbox()
        tag = String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(6))
        let n = Int.random(in: 1...250)
        host = "vtest-h-" + tag
        outside = "vtest-o-" + tag
        hostAddress = "10.201.\(n).1"
        outsideAddress = "10.201.\(n).2"
        bridge = golden ? "vgold0" : "vb" + tag
        bip = golden ? "10.203.0.1/24" : "10.202.\(n).1/24"
        containerNet = golden ? "10.203.0." : "10.202.\(n)."
        let steps: [[String]] = [
            ["netns", "add", host], ["netns", "add", outside],
            ["link", "add", "vth" + tag, "netns", host, "type", "veth", "peer", "name", "vto" + tag, "netns", outside],
            ["-n", host, "addr", "add", hostAddress + "/24", "dev", "vth" + tag],
            ["-n", outside, "addr", "add", outsideAddress + "/24", "dev", "vto" + tag],
            ["-n", host, "link", "set", "vth" + tag, "up"], ["-n", outside, "link", "set", "vto" + tag, "up"],
            ["-n", host, "link", "set", "lo", "up"], ["-n", outside, "link", "set", "lo", "up"],
            // A new namespace copies ip_forward from the machine's: start from 0, so runs
            // (and the golden trace) show vitro switching it on whatever the machine has.
            ["netns", "exec", host, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0"],
        ]
        // scripts/make-golden's namespace starts with forwarding off, as a fresh machine
        // (a new namespace copies the machine's setting).
        + (golden ? [["netns", "exec", host, "sysctl", "-qw", "net.ipv4.ip_forward=0"]] : [])
        for s in steps {
            let o = try runProcess(Self.ip, s)
            if o.status != 0 {
                close()
                throw SandboxError(message: "ip \(s.joined(separator: " ")): \(o.stderr)")
            }
        }
        if !golden { try Self.installUDPEcho(into: box) }
    }

    func close() {
        guard !closed else { return }
        closed = true
        _ = try? runProcess(Self.ip, ["netns", "del", host])
        _ = try? runProcess(Self.ip, ["netns", "del", outside])
    }

    deinit { close() }

    /// The bridge flags every run of the lab uses.
    var bridgeFlags: [String] { ["--net", "bridge", "--bridge", bridge, "--bip", bip] }

    /// vitro inside the host namespace. nsenter --net changes the network namespace
    /// only (`ip netns exec` would also remount /sys, hiding the cgroup hierarchies).
    func vitro(_ args: [String], timeout: Double = 60) throws -> Output {
        try runProcess(Self.nsenter, ["--net=/run/netns/" + host, Binaries.vitro] + args, env: box.env, timeout: timeout)
    }

    func run(_ command: [String], extra: [String] = [], timeout: Double = 60) throws -> Output {
        try vitro(["run", "--rootfs", box.rootfs] + bridgeFlags + extra + command, timeout: timeout)
    }

    func inHost(_ command: [String], input: String? = nil, timeout: Double = 20) throws -> Output {
        try runProcess(Self.nsenter, ["--net=/run/netns/" + host] + command, input: input, timeout: timeout)
    }

    func inOutside(_ command: [String], input: String? = nil, timeout: Double = 20) throws -> Output {
        try runProcess(Self.nsenter, ["--net=/run/netns/" + outside] + command, input: input, timeout: timeout)
    }

    /// A TCP request with busybox nc from the host or the outside; retried while the
    /// server is not up yet. Returns what came back.
    func tcp(from ns: String, _ address: String, _ port: Int, attempts: Int = 30) throws -> String {
        for _ in 0..<attempts {
            // The request is piped inside the child: a refused connection ends nc before
            // it reads, and a write from this process would then raise SIGPIPE here.
            let o = try runProcess(Self.nsenter, ["--net=/run/netns/" + ns, "/bin/sh", "-c", "echo ping | /bin/busybox nc -w 2 \(address) \(port)"], timeout: 10)
            let text = o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if !text.isEmpty { return text }
            usleep(100_000)
        }
        return ""
    }

    /// A UDP request with the test's udpecho client (busybox nc has no UDP).
    func udp(from ns: String, _ address: String, _ port: Int, _ message: String) throws -> String {
        let o = try runProcess(Self.nsenter, ["--net=/run/netns/" + ns, box.rootfs + "/bin/udpecho", "client", address, String(port), message], timeout: 15)
        return o.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What is left in the host namespace: veths, rules in vitro's ports chain, IPAM
    /// entries.
    func leftovers() throws -> [String] {
        var left: [String] = []
        for _ in 0..<40 {
            left = []
            let links = try runProcess(Self.ip, ["-n", host, "-o", "link"]).stdout
            left += links.split(separator: "\n").filter { $0.contains(": vx") }.map { "veth: \($0.prefix(40))" }
            let rules = try inHost(["/usr/sbin/nft", "list", "chain", "ip", "vitro", "ports"]).stdout
            left += rules.split(separator: "\n").filter { $0.contains("dnat") }.map { "rule: \($0)" }
            // A packet capture's trace chains (`chain trace-pre-PID`).
            let table = try inHost(["/usr/sbin/nft", "list", "table", "ip", "vitro"]).stdout
            left += table.split(separator: "\n").filter { $0.contains("chain trace-") }.map { "trace chain: \($0)" }
            let ipam = (try? String(contentsOfFile: box.runRoot + "/network/ipam.json", encoding: .utf8)) ?? ""
            if !ipam.isEmpty && !ipam.contains("\"containers\":[]") { left.append("ipam: \(ipam)") }
            if left.isEmpty { break }
            usleep(50_000)  // a namespace (and its veth) is freed asynchronously
        }
        return left
    }

    /// The id of the one container running now. Its directory appears before its
    /// process starts, so this waits until inspect reports the state as running: a
    /// test that links to it or joins it right after would otherwise race the start.
    func runningContainer(timeout: Double = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let ids = (try? FileManager.default.contentsOfDirectory(atPath: box.root + "/containers")) ?? []
            if let id = ids.first(where: { $0.count == 64 }),
                (try? vitro(["inspect", "-f", "{{.State.Status}}", id]).stdout) == "running\n"
            {
                return id
            }
            usleep(50_000)
        }
        return nil
    }

    /// A container in the background; it ends when its stdin is closed (`read x`).
    final class Background {
        let process: Process
        let stdin: Pipe
        let stdout: Pipe
        init(_ lab: NetLab, _ args: [String]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: NetLab.nsenter)
            process.arguments = ["--net=/run/netns/" + lab.host, Binaries.vitro] + args
            var env = ProcessInfo.processInfo.environment
            for (k, v) in lab.box.env { env[k] = v }
            process.environment = env
            stdin = Pipe()
            stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = FileHandle.standardError
            try process.run()
        }
        func stop() -> Int32 {
            try? stdin.fileHandleForWriting.close()
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    func background(_ command: [String], extra: [String] = []) throws -> Background {
        // -i: the container's stdin is this test's pipe; closing it ends the container.
        try Background(self, ["run", "-i", "--rootfs", box.rootfs] + bridgeFlags + extra + command)
    }

    /// A static UDP echo for the container and for the test's clients: the server
    /// answers each datagram with "from ADDRESS MESSAGE", so a test sees the source
    /// address a packet arrived with.
    static let udpEchoSource = #"""
        #include <arpa/inet.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <sys/time.h>
        #include <unistd.h>
        int main(int c, char **v) {
            int s = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            if (c >= 3 && !strcmp(v[1], "server")) {
                a.sin_port = htons(atoi(v[2]));
                if (bind(s, (struct sockaddr *)&a, sizeof a)) { perror("bind"); return 1; }
                for (;;) {
                    char b[1500], o[1600];
                    struct sockaddr_in p;
                    socklen_t l = sizeof p;
                    int n = recvfrom(s, b, sizeof b - 1, 0, (struct sockaddr *)&p, &l);
                    if (n < 0) continue;
                    b[n] = 0;
                    int m = snprintf(o, sizeof o, "from %s %s", inet_ntoa(p.sin_addr), b);
                    sendto(s, o, m, 0, (struct sockaddr *)&p, l);
                }
            }
            if (c >= 5 && !strcmp(v[1], "client")) {
                a.sin_port = htons(atoi(v[3]));
                inet_pton(AF_INET, v[2], &a.sin_addr);
                struct timeval t = {1, 0};
                setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
                for (int i = 0; i < 8; i++) {
                    sendto(s, v[4], strlen(v[4]), 0, (struct sockaddr *)&a, sizeof a);
                    char b[1600];
                    int n = recv(s, b, sizeof b - 1, 0);
                    if (n >= 0) { b[n] = 0; puts(b); return 0; }
                }
                return 1;
            }
            fprintf(stderr, "usage: udpecho server PORT | udpecho client IP PORT MESSAGE\n");
            return 2;
        }
        """#

    static func installUDPEcho(into box: Sandbox) throws {
        let src = box.dir + "/udpecho.c"
        try udpEchoSource.write(toFile: src, atomically: true, encoding: .utf8)
        let o = try runProcess("/usr/bin/gcc", ["-static", "-O2", "-o", box.rootfs + "/bin/udpecho", src])
        if o.status != 0 { throw SandboxError(message: "gcc: \(o.stderr)") }
    }
}
