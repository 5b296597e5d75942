// VitroCommandLine: argv read with Docker's rules (pflag's), into declared properties.

import Testing
@testable import VitroCommandLine

private struct Limits: ParsableArguments {
    @Option("-m", "--memory", help: "Memory.") var memory: String?
    @Option("--memory-swap") var memorySwap: String?
    @Option("--cpu-shares") var cpuShares: Int64?
}

private struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", helpNames: [.long])
    @Flag("-d", "--detach") var detach = false
    @Flag("-i", "--interactive") var interactive = false
    @Flag("-t", "--tty") var tty = false
    @Flag("--sig-proxy") var sigProxy = true
    @Option("-p", "--publish") var publish: [String] = []
    @Option("-e", "--env") var env: [String] = ["DEFAULT=1"]
    @Option("-h", "--hostname") var hostname: String?
    @Option("--name") var name: String?
    @OptionGroup(title: "Limits") var limits: Limits
    @Argument("words", parsing: .captureForPassthrough, help: "IMAGE COMMAND") var words: [String] = []
}

private struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attach")
    @Option("--tail") var tail: Int?
    @Argument("container", help: "Container.") var container: String
    @Argument("more", help: "More.") var more: [String] = []
}

private struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm")
    @Flag("-f", "--force") var force = false
    @Argument("containers", help: "Containers.") var containers: [String]
}

private func usage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let CommandLineError.usage(message, _) {
        return message
    } catch {
        return "other: \(error)"
    }
}

@Suite struct CommandLineParsing {
    @Test func groupedShortFlagsAndAnOptionEndingTheGroup() throws {
        let r = try Run.parse(["-dit", "-dp", "8080:80", "-p80", "busybox"])
        #expect(r.detach && r.interactive && r.tty)
        #expect(r.publish == ["8080:80", "80"])
        #expect(r.words == ["busybox"])
    }

    @Test func longOptionsWithEqualsOrTheNextWordWhateverItLooksLike() throws {
        let r = try Run.parse(["--name=web", "--memory-swap", "-1", "-m", "512m", "--cpu-shares=512", "img"])
        #expect(r.name == "web")
        #expect(r.limits.memorySwap == "-1" && r.limits.memory == "512m" && r.limits.cpuShares == 512)
    }

    @Test func aFlagTakesEqualsFalse() throws {
        #expect(try Run.parse(["img"]).sigProxy)
        #expect(try Run.parse(["--sig-proxy=false", "img"]).sigProxy == false)
        #expect(try Run.parse(["--detach=true", "img"]).detach)
        #expect(usage { _ = try Run.parse(["--detach=maybe", "img"]) } == "invalid argument \"maybe\" for \"--detach\"")
    }

    @Test func optionsStopAtTheFirstWordOfTheCommand() throws {
        let r = try Run.parse(["-e", "A=1", "busybox", "sh", "-c", "echo hi", "--name", "x"])
        #expect(r.words == ["busybox", "sh", "-c", "echo hi", "--name", "x"])
        #expect(r.name == nil)
        // The first -e replaces the default; later ones add to it.
        #expect(r.env == ["A=1"])
        #expect(try Run.parse(["img"]).env == ["DEFAULT=1"])
        #expect(try Run.parse(["-e", "A", "-e", "B", "img"]).env == ["A", "B"])
    }

    @Test func doubleDashEndsOptions() throws {
        let a = try Attach.parse(["--", "--not-a-flag"])
        #expect(a.container == "--not-a-flag")
        let b = try Attach.parse(["c1", "--tail", "5", "x", "-"])
        #expect(b.container == "c1" && b.tail == 5 && b.more == ["x", "-"])
    }

    @Test func mistakesAreOneLine() {
        #expect(usage { _ = try Run.parse(["--nope", "img"]) } == "unknown flag: --nope")
        #expect(usage { _ = try Run.parse(["-dz", "img"]) } == "unknown shorthand flag: 'z' in -dz")
        #expect(usage { _ = try Run.parse(["--name"]) } == "flag needs an argument: --name")
        #expect(usage { _ = try Attach.parse(["c", "--tail", "many"]) } == "invalid argument \"many\" for \"--tail\"")
        #expect(usage { _ = try Attach.parse([]) } == "\"attach\" requires the argument <container>")
        #expect(usage { _ = try Rm.parse(["-f"]) } == "\"rm\" requires the argument <containers>")
        #expect(usage { _ = try Rm.parse(["a", "b"]) } == nil)
    }

    @Test func helpNamesFollowTheConfiguration() {
        // run's -h is --hostname; attach's -h asks for help.
        #expect((try? Run.parse(["-h", "box", "img"]))?.hostname == "box")
        #expect(throws: CommandLineError.help(Run.self, path: ["run"])) { try Run.parse(["--help"]) }
        #expect(throws: CommandLineError.help(Attach.self, path: ["attach"])) { try Attach.parse(["-h"]) }
    }

    @Test func aRequiredArrayArgumentNeedsOneWord() throws {
        #expect(try Rm.parse(["-f", "a", "b"]).containers == ["a", "b"])
        #expect(try Rm.parse(["a", "-f", "b"]).force)
    }

    @Test func declarationsAreGatheredInOrderWithTheirGroups() {
        let (run, slots) = Declarations.of { Run() }
        #expect(slots.map { $0.longNames.first ?? $0.valueName } == ["detach", "interactive", "tty", "sig-proxy", "publish", "env", "hostname", "name", "memory", "memory-swap", "cpu-shares", "words"])
        #expect(slots.filter { $0.group == "Limits" }.count == 3)
        #expect(slots[4].shortNames == ["p"] && slots[4].longNames == ["publish"])
        // Outside parsing, making a command declares nothing anywhere.
        _ = Run()
        #expect(run.env == ["DEFAULT=1"])
    }
}
