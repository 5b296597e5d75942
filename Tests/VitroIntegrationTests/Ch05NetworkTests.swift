// Chapter 05 on the real kernel, inside network namespaces the tests make (NetLab):
// published ports in every -p form reached from the host's 127.0.0.1 and from the
// outside, MASQUERADE, hairpin, /etc files, --net none and host, 50 containers and a
// killed engine leaving nothing, and bad input that installs nothing.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch05Network {
        static let canNet = FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft") && FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter")

        @Test(.enabled(if: canNet, "needs nft, nsenter and gcc (for the static UDP echo)"))
        func everyPublishFormFromTheHostsLoopbackAndFromOutside() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let servers = (80...88).map { "(while true; do echo hello-\($0) | nc -l -p \($0); done) &" }.joined(separator: " ")
                let c = try lab.background(
                    ["/bin/sh", "-c", "\(servers) udpecho server 90 & read x; true"],
                    extra: [
                        "-p", "8080:80", "-p", "\(lab.hostAddress):8081:81", "-p", "\(lab.hostAddress)::82", "-p", "83",
                        "-p", "127.0.0.1:8084:84", "-p", "8085-8086:85-86", "-p", "9090:90/udp", "--expose", "87", "-P",
                    ])
                let id = try #require(lab.runningContainer())
                func port(_ p: String) throws -> (String, Int) {
                    for _ in 0..<50 {
                        let o = try lab.vitro(["port", String(id.prefix(12)), p])
                        if o.status == 0, let line = o.stdout.split(separator: "\n").first, let colon = line.lastIndex(of: ":"), let n = Int(line[line.index(after: colon)...]) {
                            return (String(line[..<colon]), n)
                        }
                        usleep(100_000)
                    }
                    return ("", 0)
                }
                let (ip82, p82) = try port("82")
                let (ip83, p83) = try port("83")
                let (_, p87) = try port("87")
                #expect(ip82 == lab.hostAddress && p82 > 0)
                #expect(ip83 == "0.0.0.0" && p83 > 0 && p87 > 0)

                // host:ctr, from outside, from the host's own address and from 127.0.0.1 (the proxy).
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8080) == "hello-80")
                #expect(try lab.tcp(from: lab.host, lab.hostAddress, 8080) == "hello-80")
                #expect(try lab.tcp(from: lab.host, "127.0.0.1", 8080) == "hello-80")
                // ip:host:ctr and ip::ctr
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8081) == "hello-81")
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, p82) == "hello-82")
                // ctr, a port the kernel picked
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, p83) == "hello-83")
                #expect(try lab.tcp(from: lab.host, "127.0.0.1", p83) == "hello-83")
                // 127.0.0.1:host:ctr: only the host's loopback
                #expect(try lab.tcp(from: lab.host, "127.0.0.1", 8084) == "hello-84")
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8084, attempts: 2) == "")
                // a range, port by port
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8085) == "hello-85")
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, 8086) == "hello-86")
                // -P with --expose
                #expect(try lab.tcp(from: lab.outside, lab.hostAddress, p87) == "hello-87")
                // UDP: DNAT keeps the client's address; through 127.0.0.1 the proxy is the client.
                #expect(try lab.udp(from: lab.outside, lab.hostAddress, 9090, "u1") == "from \(lab.outsideAddress) u1")
                #expect(try lab.udp(from: lab.host, "127.0.0.1", 9090, "u2").hasPrefix("from \(lab.containerNet)1 u2"))
                // Hairpin: another container reaches this one through the host's published port.
                let hair = try lab.run(["/bin/sh", "-c", "echo ping | nc -w 2 \(lab.hostAddress) 8080"])
                #expect(hair.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "hello-80", "\(hair.stderr)")

                let all = try lab.vitro(["port", String(id.prefix(12))])
                #expect(all.stdout.contains("80/tcp -> 0.0.0.0:8080\n"))
                #expect(all.stdout.contains("81/tcp -> \(lab.hostAddress):8081\n"))
                #expect(all.stdout.contains("90/udp -> 0.0.0.0:9090\n"))
                let missing = try lab.vitro(["port", String(id.prefix(12)), "99"])
                #expect(missing.status == 1 && missing.stderr == "vitro: No public port '99/tcp' published for \(id.prefix(12))\n")

                #expect(c.stop() == 0)
                #expect(try lab.leftovers() == [])
            }
        }

        @Test(.enabled(if: canNet, "needs nft, nsenter and gcc"))
        func outboundTrafficLeavesWithTheHostsAddress() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let server = Process()
                server.executableURL = URL(fileURLWithPath: NetLab.nsenter)
                server.arguments = ["--net=/run/netns/" + lab.outside, lab.box.rootfs + "/bin/udpecho", "server", "7000"]
                try server.run()
                defer {
                    // SIGKILL: the test runner's threads block SIGTERM, and a child keeps that mask.
                    kill(server.processIdentifier, SIGKILL)
                    server.waitUntilExit()
                }
                let o = try lab.run(["/bin/sh", "-c", "udpecho client \(lab.outsideAddress) 7000 out; ip -4 addr show eth0 | grep inet; ip route"])
                #expect(o.status == 0, "\(o.stderr)")
                let lines = o.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                #expect(lines.first == "from \(lab.hostAddress) out", "MASQUERADE: \(o.stdout)")
                #expect(lines.contains { $0.hasPrefix("inet \(lab.containerNet)") })
                #expect(lines.contains("default via \(lab.containerNet)1 dev eth0"))
                #expect(try lab.leftovers() == [])
            }
        }

        @Test(.enabled(if: canNet, "needs nft and nsenter"))
        func etcFilesHostnameDNSAndExtraHosts() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let o = try lab.run(
                    ["/bin/sh", "-c", "hostname; cat /etc/hostname /etc/resolv.conf; tail -2 /etc/hosts"],
                    extra: ["-h", "web", "--dns", "10.0.0.53", "--dns-search", "example.org", "--add-host", "db:10.1.2.3"])
                #expect(o.status == 0, "\(o.stderr)")
                let lines = o.stdout.split(separator: "\n").map(String.init)
                #expect(lines.count == 6, "\(o.stdout)")
                #expect(Array(lines.prefix(4)) == ["web", "web", "search example.org", "nameserver 10.0.0.53"])
                #expect(lines.dropFirst(4).first == "10.1.2.3\tdb")
                #expect(lines.last?.hasPrefix(lab.containerNet) == true && lines.last?.hasSuffix("\tweb") == true)
                // The image's own files are untouched: the container's are bind mounts.
                #expect(((try? String(contentsOfFile: lab.box.rootfs + "/etc/hostname", encoding: .utf8)) ?? "").isEmpty)
            }
        }

        @Test func netNoneHasOnlyLoopbackAndItIsUp() throws {
            try leavesNothing {
                let box = try Sandbox()
                let o = try box.run(["/bin/sh", "-c", "ls /sys/class/net; ip -4 addr show lo | grep -c 127.0.0.1; ping -c1 -W1 127.0.0.1 >/dev/null && echo ping-ok"], extra: ["--net", "none"])
                #expect(o.status == 0, "\(o.stderr)")
                #expect(o.stdout == "lo\n1\nping-ok\n")
            }
        }

        @Test(.enabled(if: canNet, "needs nsenter"))
        func netHostSeesTheHostsInterfaces() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let o = try lab.vitro(["run", "--rootfs", lab.box.rootfs, "--net", "host", "/bin/sh", "-c", "ls /sys/class/net"])
                #expect(o.status == 0, "\(o.stderr)")
                #expect(o.stdout.split(separator: "\n").contains { $0 == "vth" + lab.tag })
            }
        }

        @Test(.enabled(if: canNet, "needs nft and nsenter"))
        func linksGiveDockersVariablesAndHostsEntries() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let db = try lab.background(["/bin/sh", "-c", "read x; true"], extra: ["--name", "db", "-p", "5432", "--expose", "6379", "-e", "POSTGRES_USER=admin"])
                let dbID = try #require(lab.runningContainer())
                #expect(try lab.vitro(["inspect", "-f", "{{.Name}}", dbID]).stdout == "/db\n")
                let o = try lab.run(["/bin/sh", "-c", "env | grep ^DB_ | sort; grep -w db /etc/hosts; ping -c1 -W2 db >/dev/null && echo reachable"], extra: ["--name", "web2", "--link", "db:db"])
                #expect(o.status == 0, "\(o.stderr)")
                let lines = o.stdout.split(separator: "\n").map(String.init)
                let addr = lines.first { $0.hasPrefix("DB_PORT_5432_TCP_ADDR=") }.map { String($0.dropFirst("DB_PORT_5432_TCP_ADDR=".count)) } ?? ""
                #expect(addr.hasPrefix(lab.containerNet), "\(lines)")
                #expect(lines.contains("DB_NAME=/web2/db"))
                #expect(lines.contains("DB_PORT=tcp://\(addr):5432") && lines.contains("DB_PORT_5432_TCP=tcp://\(addr):5432"))
                #expect(lines.contains("DB_PORT_5432_TCP_PORT=5432") && lines.contains("DB_PORT_5432_TCP_PROTO=tcp"))
                #expect(lines.contains("DB_PORT_6379_TCP=tcp://\(addr):6379"), "an exposed port that is not published is linked too")
                #expect(lines.contains("DB_ENV_POSTGRES_USER=admin"))
                #expect(lines.contains("\(addr)\tdb"))
                #expect(lines.last == "reachable")
                let bad = try lab.run(["/bin/true"], extra: ["--link", "nobody:x"])
                #expect(bad.status == 125 && bad.stderr == "vitro: --link nobody:x: no such container: nobody\n")
                #expect(db.stop() == 0)
                #expect(try lab.leftovers() == [])
            }
        }

        /// The 127.0.0.1 path goes through vitro's proxy. A client that sends faster
        /// than the container reads fills the proxy's socket towards the container; what
        /// does not fit must wait in the proxy, not be dropped (it was, until the
        /// tutorial's push of a layer to a registry in a container stalled).
        @Test(.enabled(if: canNet, "needs nft and nsenter"))
        func aBigUploadThroughLoopbackToASlowReaderArrivesWhole() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let c = try lab.background(["/bin/sh", "-c", "nc -l -p 80 | (sleep 2; md5sum); read x; true"], extra: ["-p", "8080:80"])
                _ = try #require(lab.runningContainer())
                usleep(500_000)
                let client = """
                    import hashlib, os, socket, sys
                    data = os.urandom(8 << 20)
                    s = socket.create_connection(("127.0.0.1", 8080), timeout=30)
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536): pass
                    print(hashlib.md5(data).hexdigest())
                    """
                let sent = try lab.inHost(["/usr/bin/python3", "-c", client], timeout: 60)
                #expect(sent.status == 0, "\(sent.stderr)")
                #expect(c.stop() == 0)
                let got = String(decoding: c.stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                let want = sent.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(want.count == 32 && got.hasPrefix(want), "sent \(want), the container got \(got)")
                #expect(try lab.leftovers() == [])
            }
        }

        @Test(.enabled(if: canNet, "needs nft and nsenter"))
        func netContainerJoinsTheOtherContainersNetworkNamespace() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let web = try lab.background(["/bin/sh", "-c", "readlink /proc/self/ns/net; read x; true"], extra: ["--name", "web", "-h", "webhost"])
                let webID = try #require(lab.runningContainer())
                let webNet = readLine(web.stdout.fileHandleForReading)
                let ip = try lab.vitro(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(ip.hasPrefix(lab.containerNet))
                // The second container sees the first one's eth0, address, hostname and /etc/hosts.
                let o = try lab.run(["/bin/sh", "-c", "readlink /proc/self/ns/net; ip -4 -o addr show eth0; hostname; grep -c webhost /etc/hosts"], extra: ["--net", "container:web"])
                #expect(o.status == 0, "\(o.stderr)")
                let lines = o.stdout.split(separator: "\n").map(String.init)
                #expect(lines.first == webNet, "the same network namespace: \(lines) vs \(webNet)")
                #expect(lines.count == 4 && lines[1].contains("inet \(ip)/"), "\(lines)")
                #expect(lines.count == 4 && lines[2] == "webhost" && lines[3] != "0", "\(lines)")
                // Docker's conflicts and a stopped or missing container: one clear line, nothing made.
                let before = try lab.vitro(["ps", "-a", "-q"]).stdout
                for (flags, message) in [
                    (["--net", "container:nobody"], "vitro: --net container:nobody: no such container: nobody\n"),
                    (["--net", "container:web", "-h", "x"], "vitro: conflicting options: --hostname and --net container:web (the container takes the other's hostname)\n"),
                    (["--net", "container:web", "--dns", "10.0.0.1"], "vitro: conflicting options: --dns and --net container:web (the other container's resolv.conf is used)\n"),
                    (["--net", "container:web", "-p", "80"], "vitro: conflicting options: -p and --net container:web (the ports belong to the other container)\n"),
                ] {
                    let bad = try lab.vitro(["run", "--rootfs", lab.box.rootfs] + flags + ["/bin/true"])
                    #expect(bad.status == 125 && bad.stderr == message, "\(flags): \(bad.stderr)")
                }
                #expect(web.stop() == 0)
                let stopped = try lab.vitro(["run", "--rootfs", lab.box.rootfs, "--net", "container:web", "/bin/true"])
                #expect(stopped.status == 125 && stopped.stderr == "vitro: --net container:web: cannot join the network of container web: it is not running\n", "\(stopped.stderr)")
                #expect(try lab.vitro(["ps", "-a", "-q"]).stdout == before, "refused runs make no record")
                _ = webID
                #expect(try lab.leftovers() == [])
            }
        }

        @Test(.enabled(if: canNet && RegistryConditions.hasTools, "needs nft, nsenter and docker-registry"))
        func publishAllPublishesTheImagesExposedPorts() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let registry = try TestRegistry()
                defer { registry.stop() }
                let layout = try OCILayout(dir: lab.box.dir + "/oci")
                let image = try layout.addImage(rootfs: lab.box.rootfs, architecture: "amd64", exposedPorts: ["8080/tcp", "53/udp"])
                try layout.tag(image, as: "latest")
                try registry.push(layout: layout.dir, tag: "latest", as: "exposer:latest")
                let name = "\(registry.host)/exposer"
                // Pulled outside the lab: the registry listens on the machine's loopback.
                let pulled = try lab.box.vitro(["pull", name])
                #expect(pulled.status == 0, "\(pulled.stderr)")
                let c = try NetLab.Background(lab, ["run", "-i", "--name", "exp", "-P", "--expose", "9000"] + lab.bridgeFlags + [name, "/bin/sh", "-c", "read x; true"])
                _ = try #require(lab.runningContainer())
                var lines: [String] = []
                for _ in 0..<100 {
                    lines = try lab.vitro(["port", "exp"]).stdout.split(separator: "\n").map(String.init)
                    if lines.count == 3 { break }
                    usleep(50_000)
                }
                let ports = lines.map { $0.split(separator: " ").first.map(String.init) ?? "" }
                #expect(ports == ["53/udp", "8080/tcp", "9000/tcp"], "\(lines)")
                #expect(lines.allSatisfy { $0.contains(" -> 0.0.0.0:") && !$0.hasSuffix(":0") }, "\(lines)")
                #expect(c.stop() == 0)
                #expect(try lab.leftovers() == [])
            }
        }

        @Test(.enabled(if: canNet, "needs nft and nsenter"))
        func fiftyContainersLeaveNoVethRuleOrAddress() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                for i in 0..<50 {
                    let o = try lab.run(["/bin/true"], extra: i % 2 == 0 ? ["-p", "80", "-p", "53/udp"] : [])
                    #expect(o.status == 0, "run \(i): \(o.stderr)")
                }
                #expect(try lab.leftovers() == [])
                // The records stay (ps -a), as Docker's do, until rm.
                #expect(try lab.vitro(["ps", "-a", "-q"]).stdout.split(separator: "\n").count == 50)
            }
        }

        @Test(.enabled(if: canNet, "needs nft and nsenter"))
        func aTakenPortIsAClearErrorAndInstallsNothing() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let holder = Process()
                holder.executableURL = URL(fileURLWithPath: NetLab.nsenter)
                holder.arguments = ["--net=/run/netns/" + lab.host, "/bin/busybox", "nc", "-l", "-p", "8089"]
                holder.standardInput = Pipe()
                try holder.run()
                defer {
                    kill(holder.processIdentifier, SIGKILL)
                    holder.waitUntilExit()
                }
                var o = Output(status: 0, stdout: "", stderr: "")
                for _ in 0..<20 {  // until the holder is listening
                    o = try lab.run(["/bin/true"], extra: ["-p", "8089:80"])
                    if o.status != 0 { break }
                    usleep(100_000)
                }
                #expect(o.status == 125)
                #expect(o.stderr == "vitro: -p: host port 0.0.0.0:8089/tcp is already in use\n")
                #expect(try runProcess(NetLab.ip, ["-n", lab.host, "link", "show", lab.bridge]).status != 0, "no bridge was made")
                #expect(try lab.inHost(["/usr/sbin/nft", "list", "tables"]).stdout == "", "no nft table was made")
                #expect(try lab.leftovers() == [])
            }
        }

        @Test(.enabled(if: canNet, "needs nft and nsenter"))
        func aRunKilledWithSIGKILLIsCleanedUpByTheNextRun() throws {
            try leavesNothing {
                let lab = try NetLab()
                defer { lab.close() }
                let marker = "vitro-killed-" + lab.tag
                let c = try lab.background(["/bin/sh", "-c", "sleep 1000; echo \(marker)"], extra: ["-p", "8090:80"])
                let id = try #require(lab.runningContainer())
                // Wait until the network stage has finished (the rule is in).
                for _ in 0..<100 {
                    if try lab.inHost(["/usr/sbin/nft", "list", "chain", "ip", "vitro", "ports"]).stdout.contains("dport 8090") { break }
                    usleep(50_000)
                }
                kill(c.process.processIdentifier, SIGKILL)
                c.process.waitUntilExit()
                // The container outlives its engine; end it (its pid 1 is the sh with the marker).
                let pids = try runProcess("/usr/bin/pgrep", ["-f", marker]).stdout.split(separator: "\n").compactMap { Int32($0) }
                for pid in pids where (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sh\n" { kill(pid, SIGKILL) }
                #expect(try lab.leftovers().contains { $0.hasPrefix("ipam") }, "the dead run's address is still recorded")
                // The next run sweeps what the dead one left.
                var o = try lab.run(["/bin/true"])
                for _ in 0..<20 where try !lab.leftovers().isEmpty {
                    usleep(100_000)
                    o = try lab.run(["/bin/true"])  // the dead veth may take a moment to go
                }
                #expect(o.status == 0, "\(o.stderr)")
                #expect(try lab.leftovers() == [])
                // The dead run's record stays, and says what became of it.
                #expect(try lab.vitro(["inspect", "-f", "{{.State.Running}}", id]).stdout == "false\n")
                #expect(!FileManager.default.fileExists(atPath: "/run/vitro/cgroups/\(id).lock"))
            }
        }

        @Test func badNetworkInputInstallsNothing() throws {
            try leavesNothing {
                let box = try Sandbox()
                for (flags, message) in [
                    (["-p", "70000:80"], "vitro: -p 70000:80: invalid host port 70000 (ports are 1 to 65535)\n"),
                    (["-p", "abc"], "vitro: -p abc: invalid container port \"abc\"\n"),
                    (["--net", "bogus"], "vitro: --net bogus: unknown network mode (bridge, none, host or container:NAME)\n"),
                    (["--bip", "8.8.8.1/24", "--net", "bridge"], "vitro: --bip 8.8.8.1/24: not a private subnet (use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)\n"),
                ] {
                    let o = try box.run(["/bin/true"], extra: flags)
                    #expect(o.status == 125, "\(flags)")
                    #expect(o.stderr == message)
                }
                #expect(!FileManager.default.fileExists(atPath: box.root), "a refused run must not even make its state root")
            }
        }
    }
}

/// One line from a pipe, read a byte at a time (the writer keeps the pipe open).
func readLine(_ handle: FileHandle) -> String {
    var bytes: [UInt8] = []
    while let b = try? handle.read(upToCount: 1), let c = b.first, c != 10 { bytes.append(c) }
    return String(decoding: bytes, as: UTF8.self)
}
