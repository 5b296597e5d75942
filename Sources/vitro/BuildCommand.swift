// vitro build: an image from a Dockerfile and a build context, step by step, printed as
// Docker's classic builder prints it (`Step 1/7 : FROM busybox`, ` ---> 1a2b3c4d5e6f`).

import VitroCommandLine
import VitroBuild
import VitroImage
import VitroSys
import VitroTrace

#if canImport(Glibc)
import Glibc
#endif

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build an image from a Dockerfile.",
        discussion: """
            PATH is the build context: ADD and COPY read files from it and from nowhere else \
            (.dockerignore hides files). RUN runs in a container of the image so far; each step \
            makes an image, and a step already made from the same image with the same text \
            (and files) is taken from the cache. -f - reads the Dockerfile from stdin.
            """)

    @OptionGroup var global: GlobalOptions
    @Option("-t", "--tag", help: "Name and optionally a tag (NAME[:TAG]). Repeatable.") var tag: [String] = []
    @Option("-f", "--file", help: "The Dockerfile (default: PATH/Dockerfile; - reads stdin).") var file: String?
    @Option("--build-arg", help: "A build-time variable (K=V, or K to take it from the environment). Repeatable.") var buildArg: [String] = []
    @Flag("--no-cache", help: "Do not use the cache: run every step.") var noCache = false
    @Flag("-q", "--quiet", help: "Print only the image id at the end.") var quiet = false
    @Flag("--rm", help: "Remove intermediate containers after a build (always on).") var rm = false
    @Flag("--force-rm", help: "Remove intermediate containers even after a failed step (always on).") var forceRm = false
    @Option("--insecure-registry", help: "Reach this registry (host[:port]) over plain HTTP when FROM pulls. Repeatable.") var insecureRegistry: [String] = []
    @Option("--trace", help: "Write the trace (JSON Lines) of the whole build to this file.") var trace: String?
    @Argument("path", help: "The build context directory.") var path: String

    func run() throws {
        var options = BuildOptions(context: path)
        for t in tag {
            do {
                let ref = try Reference.parse(t)
                if ref.digest != nil { fail("build: invalid tag \(t): a tag cannot name a digest") }
                options.tags.append(ref)
            } catch {
                fail("build: invalid reference format: \(t): \(error)")
            }
        }
        for a in buildArg {
            if let eq = a.firstIndex(of: "=") {
                options.buildArgs.append((String(a[..<eq]), String(a[a.index(after: eq)...])))
            } else {
                options.buildArgs.append((a, nil))
            }
        }
        if file == "-" {
            var text: [UInt8] = []
            do {
                while let chunk = try Sys.read(0), !chunk.isEmpty { text += chunk }
            } catch {
                fail("build: the Dockerfile could not be read from stdin: \(error)")
            }
            options.dockerfileText = String(decoding: text, as: UTF8.self)
        } else {
            options.dockerfile = file
        }
        options.noCache = noCache
        options.quiet = quiet
        options.stateRoot = global.stateRoot
        options.pull.insecureRegistries = insecureRegistry
        options.traced = trace != nil

        var traceFD: Int32 = -1
        if let trace {
            guard let fd = try? Sys.open(trace, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode: 0o600, trace: false) else {
                fail("trace \"\(trace)\": cannot be written")
            }
            traceFD = fd
            let sink = JSONLinesSink(fd: fd, epochNanos: MonotonicClock.now(), buffered: true)
            sink.writeHeader(argv: CommandLine.arguments, extra: ["root": .string(global.stateRoot.path)])
            Tracer.shared.addSink(sink)
        }
        func finishTrace() {
            guard traceFD >= 0 else { return }
            Tracer.shared.flush()
            Tracer.shared.removeAllSinks()
            Sys.close(traceFD)
        }
        let quiet = self.quiet
        do {
            let builder = try ImageBuilder(options: options) { line in if !quiet { writeStdout(line + "\n") } }
            let id = try builder.build()
            finishTrace()
            if quiet { writeStdout(id.description + "\n") }
        } catch {
            finishTrace()
            fail("build: \(error.message)", code: error.code)
        }
    }
}
