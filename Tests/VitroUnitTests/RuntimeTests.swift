// VitroRuntime pieces that need no root: environment, ids, trace pruning.

import Foundation
import Testing

@testable import VitroRuntime
import VitroImage
import VitroTrace

@Suite struct RuntimeBasics {
    /// A container store in a directory of its own (the caller removes `dir`).
    func scratchStore() -> (store: ContainerStore, dir: String) {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        return (ContainerStore(root: StateRoot(path: dir)), dir)
    }

    /// A container's config with a fresh id and nothing but a name of note.
    func scratchConfig(_ name: String, detached: Bool = true, autoRemove: Bool = false) -> ContainerConfig {
        ContainerConfig(
            id: ContainerID.make(), name: name, created: WallTime.now(), image: "i", rootfs: "/r", argv: ["true"], env: [],
            workdir: "/", hostname: "h", detached: detached, autoRemove: autoRemove)
    }

    @Test func environmentHasDockersDefaultsAndTheUsersOverrides() {
        var o = RunOptions(rootfs: "/r", argv: ["x"])
        o.env = ["PATH=/custom", "A=1", "HOME"]  // HOME: copied from vitro's environment
        let env = o.environment(hostname: "h")
        #expect(env.contains("PATH=/custom") && !env.contains { $0.hasPrefix("PATH=/usr") })
        #expect(env.contains("HOSTNAME=h") && env.contains("A=1"))
        let home = ProcessInfo.processInfo.environment["HOME"]
        // Without -e HOME, pid 1 sets HOME from the user's passwd entry (runc's rule).
        #expect(env.filter { $0.hasPrefix("HOME=") } == (home.map { ["HOME=" + $0] } ?? []))
        #expect(!RunOptions(rootfs: "/r", argv: ["x"]).environment(hostname: "h").contains { $0.hasPrefix("HOME=") })
    }

    @Test func containerIDsAre64HexDigits() {
        let a = ContainerID.make(), b = ContainerID.make()
        #expect(a.count == 64 && a.allSatisfy(\.isHexDigit))
        #expect(a != b)
    }

    @Test func oldTracesArePrunedNewestKept() throws {
        let dir = NSTemporaryDirectory() + "vitro-unit-" + UUID().uuidString
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        let now = Date()
        func name(_ i: Int) -> String { "run-" + String(repeating: "0", count: 9) + String(1000 + i).suffix(3) + ".jsonl" }
        for i in 0..<130 {
            let p = dir + "/" + name(i)
            _ = fm.createFile(atPath: p, contents: Data())
            try fm.setAttributes([.modificationDate: now.addingTimeInterval(Double(i - 200))], ofItemAtPath: p)
        }
        _ = fm.createFile(atPath: dir + "/other.txt", contents: Data())
        ContainerRun.pruneTraces(dir, keep: 100)
        let left = try fm.contentsOfDirectory(atPath: dir)
        #expect(left.count == 101)
        #expect(left.contains("other.txt") && left.contains(name(129)) && !left.contains(name(29)) && left.contains(name(30)))
        // Under the limits nothing is touched.
        ContainerRun.pruneTraces(dir, keep: 100)
        #expect(try fm.contentsOfDirectory(atPath: dir).count == 101)
    }

    /// Run-time state (the files bound into /etc, ipam.json) goes with the state root: the
    /// default root's is /run/vitro, any other root keeps its own inside itself, so two
    /// roots (two tests) never share one; VITRO_RUN_ROOT or an explicit path wins.
    @Test func theRunRootFollowsTheStateRoot() {
        #expect(StateRoot.runPath(for: "/var/lib/vitro") == "/run/vitro")
        #expect(StateRoot.runPath(for: "/var/lib/vitro/") == "/run/vitro")
        #expect(StateRoot.runPath(for: "/tmp/t1/state") == "/tmp/t1/state/run")
        #expect(StateRoot(path: "/tmp/a", runPath: "/run/x").runPath == "/run/x")
        let root = StateRoot(path: "/tmp/a", runPath: StateRoot.runPath(for: "/tmp/a"))
        #expect(root.network == "/tmp/a/run/network")
        let store = ContainerStore(root: root)
        #expect(store.runDir("abc") == "/tmp/a/run/containers/abc" && store.dir("abc") == "/tmp/a/containers/abc")
    }

    /// A record a crash of the machine left with an empty state.json (a `--rm`
    /// container's is swapped in without a flush) loads as exited, not as created.
    @Test func anEmptyStateLoadsAsExited() throws {
        let (store, dir) = scratchStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = scratchConfig("rm_me", detached: false, autoRemove: true)
        #expect(try store.create(c, generatedName: false))
        // Created: the record has no state.json yet, and loads as created.
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.dir(c.id)) == ["config.json"])
        #expect(store.load(c.id)?.state.status == .created)
        try store.update(c.id) { $0.status = .running }
        #expect(store.load(c.id)?.state.status == .running)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.dir(c.id)).sorted() == ["config.json", "state.json"])
        try "".write(toFile: store.dir(c.id) + "/state.json", atomically: false, encoding: .utf8)
        #expect(store.load(c.id)?.state.status == .exited)
        try store.remove(c.id)
        #expect(store.load(c.id) == nil)
    }

    /// A record that says running, whose pid 1 is gone: while its monitor lives the
    /// container is still stopping; a process that merely got the monitor's pid since
    /// (after a reboot, say) is not its monitor, and the container is exited.
    @Test func aDeadRunsMonitorIsKnownByItsStartTimeToo() throws {
        let (store, dir) = scratchStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let c = scratchConfig("watched")
        #expect(try store.create(c, generatedName: false))
        // A live process that is not this one stands for the monitor: the host's pid 1.
        let live = try #require(processStartTime(1))
        try store.update(c.id) { s in
            s.status = .running
            s.pid = Int32.max  // no such process: pid 1 of the container has ended
            s.monitorPid = 1
            s.monitorStartTime = live
        }
        #expect(try store.liveStatus(#require(store.load(c.id))) == .running)
        try store.update(c.id) { $0.monitorStartTime = live + 1 }
        #expect(try store.liveStatus(#require(store.load(c.id))) == .exited)
        try store.update(c.id) { s in s.status = .restarting }
        #expect(try store.liveStatus(#require(store.load(c.id))) == .exited)
        try store.update(c.id) { $0.monitorStartTime = live }
        #expect(try store.liveStatus(#require(store.load(c.id))) == .restarting)
    }

    /// Two `run -d` started at once may pick the same made-up name; the second to claim
    /// it must pick again, not fail (the detached benchmark started 50 at once and lost
    /// one to "name already in use" nearly every time). A name the user gave stays an error.
    @Test func aTakenGeneratedNameIsPickedAgainAGivenOneIsRefused() throws {
        let (store, dir) = scratchStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try store.create(scratchConfig("keen_knuth"), generatedName: true))
        let second = scratchConfig("keen_knuth")
        #expect(try store.create(second, generatedName: true) == false)
        #expect(store.load(second.id) == nil)
        #expect(throws: RunError.self) { try store.create(scratchConfig("keen_knuth"), generatedName: false) }
        #expect(store.list().map(\.config.name) == ["keen_knuth"])
    }

    /// A monitor reparented to an init that reaps late stays a zombie for a while: it
    /// has ended, and `rm -f` must not wait for it (the benchmark found rm -f taking a
    /// second per container on a machine whose pid 1 reaps once a second).
    @Test func aZombieIsNotALiveProcess() throws {
        #expect(processStartTime(getpid()) != nil)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0)
        // Not reaped yet: wait until /proc shows it as a zombie.
        var state = ""
        for _ in 0..<500 where state != "Z" {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            state = stat.split(separator: ")").last?.split(separator: " ").first.map(String.init) ?? ""
            if state != "Z" { usleep(2000) }
        }
        #expect(state == "Z")
        #expect(processStartTime(pid) == nil)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
    }
}

@Suite struct Digests {
    @Test func sha256OfKnownInputs() {
        #expect(VitroImage.Digest.sha256([]).description == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(VitroImage.Digest.sha256(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var h = SHA256Hasher()
        h.update(Array("a".utf8))
        h.update(Array("bc".utf8))
        #expect(h.count == 3)
        #expect(h.finish() == VitroImage.Digest.sha256(Array("abc".utf8)))
    }

    @Test func digestParsing() {
        #expect(VitroImage.Digest("sha256:" + String(repeating: "a", count: 64)) != nil)
        #expect(VitroImage.Digest("sha256:" + String(repeating: "A", count: 64)) == nil)
        #expect(VitroImage.Digest("sha512:" + String(repeating: "a", count: 64)) == nil)
        #expect(VitroImage.Digest("sha256:abc") == nil)
    }
}

@Suite struct RestartPolicyTests {
    @Test func parsesDockersPoliciesAndRefusesOthers() throws {
        #expect(try RestartPolicy.parse("no") == .no)
        #expect(try RestartPolicy.parse("on-failure") == .onFailure(maxRetries: 0))
        #expect(try RestartPolicy.parse("on-failure:5") == .onFailure(maxRetries: 5))
        #expect(try RestartPolicy.parse("always") == .always)
        #expect(try RestartPolicy.parse("unless-stopped") == .unlessStopped)
        for bad in ["sometimes", "on-failure:-1", "on-failure:x", "always:3"] {
            #expect(throws: RunError.self) { try RestartPolicy.parse(bad) }
        }
        #expect(RestartPolicy.onFailure(maxRetries: 3).description == "on-failure:3")
    }

    @Test func decidesAsDockersRestartManager() {
        let p = RestartPolicy.onFailure(maxRetries: 2)
        #expect(p.shouldRestart(exitCode: 1, restartCount: 0, manuallyStopped: false))
        #expect(p.shouldRestart(exitCode: 1, restartCount: 1, manuallyStopped: false))
        #expect(!p.shouldRestart(exitCode: 1, restartCount: 2, manuallyStopped: false))
        #expect(!p.shouldRestart(exitCode: 0, restartCount: 0, manuallyStopped: false))
        #expect(RestartPolicy.onFailure(maxRetries: 0).shouldRestart(exitCode: 1, restartCount: 99, manuallyStopped: false))
        #expect(RestartPolicy.always.shouldRestart(exitCode: 0, restartCount: 99, manuallyStopped: false))
        #expect(!RestartPolicy.always.shouldRestart(exitCode: 0, restartCount: 0, manuallyStopped: true))
        #expect(!RestartPolicy.no.shouldRestart(exitCode: 1, restartCount: 0, manuallyStopped: false))
        #expect(RestartPolicy.delay(attempt: 0) == 100 && RestartPolicy.delay(attempt: 3) == 800 && RestartPolicy.delay(attempt: 50) == 60_000)
    }

    @Test func logOptionsParseSizesAndRefuseUnknownKeys() throws {
        let o = try LogOptions.parse(driver: nil, options: ["max-size=10m", "max-file=3"])
        #expect(o.maxSize == 10_000_000 && o.maxFile == 3 && o.driver == "json-file")
        #expect(try LogOptions.parse(driver: nil, options: ["max-size=512"]).maxSize == 512)
        #expect(try LogOptions.parse(driver: nil, options: ["max-size=2k"]).maxSize == 2000)
        for bad in [["max-size=lots"], ["max-file=0"], ["colour=blue"], ["max-file=3"], ["novalue"]] {
            #expect(throws: RunError.self) { try LogOptions.parse(driver: nil, options: bad) }
        }
        #expect(throws: RunError.self) { try LogOptions.parse(driver: "syslog", options: []) }
        #expect(throws: RunError.self) { try LogOptions.parse(driver: "none", options: ["max-size=1k"]) }
    }
}
