// Chapter 10 as root: `vitro build` of a Dockerfile that uses every instruction, the
// image run to show each effect (files, owners, an unpacked tar, environment, working
// directory, user, command and entrypoint) and inspected (labels, ports, volume,
// author, history); the tutorial's Dockerfile built offline, unchanged; a second build
// taken from the cache, a changed COPY'd file rebuilt from its step on; attempts to
// read outside the context refused; an unknown instruction named by its line; a failed
// RUN that leaves no container, mount, cgroup or temporary file behind.

import Foundation
import Testing

extension Integration {
    @Suite struct Ch10Build {
        @discardableResult
        static func sh(_ script: String) throws -> String {
            let o = try runProcess("/bin/sh", ["-c", "set -e\n" + script], timeout: 120)
            guard o.status == 0 else { throw SandboxError(message: "sh failed (\(o.status)): \(o.stderr)\n\(script)") }
            return o.stdout
        }

        /// The sandbox's busybox rootfs as image NAME (imported from a tar), with `extra`
        /// run in the rootfs copy first.
        static func base(_ box: Sandbox, _ name: String, extra: String = "") throws {
            try sh("""
                rm -rf \(box.dir)/base && cp -a \(box.rootfs) \(box.dir)/base
                cd \(box.dir)/base
                \(extra)
                tar -C \(box.dir)/base -cf \(box.dir)/base.tar .
                """)
            let o = try box.vitro(["import", box.dir + "/base.tar", name])
            guard o.status == 0 else { throw SandboxError(message: "import: \(o.stderr)") }
        }

        /// A context directory with `files` (path: content) and a Dockerfile.
        static func context(_ box: Sandbox, _ name: String, dockerfile: String, files: [String: String] = [:]) throws -> String {
            let dir = box.dir + "/" + name
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (path, content) in files {
                let full = dir + "/" + path
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try content.write(toFile: full, atomically: false, encoding: .utf8)
            }
            try dockerfile.write(toFile: dir + "/Dockerfile", atomically: false, encoding: .utf8)
            return dir
        }

        static func containers(_ box: Sandbox) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: box.root + "/containers")) ?? []).filter { !$0.hasPrefix(".") }
        }

        /// Uses FROM (after an ARG), MAINTAINER, ARG, ENV (both forms), RUN (both forms),
        /// ADD (a file, a directory, a gzip tar), COPY (with --chown, a wildcard and the
        /// whole context under .dockerignore), WORKDIR, USER, EXPOSE, VOLUME, LABEL,
        /// STOPSIGNAL, ONBUILD, SHELL, ENTRYPOINT and CMD.
        static let everything = """
            # every instruction vitro builds
            ARG BASE=base
            FROM ${BASE}:1
            MAINTAINER Tester <t@example.com>
            ARG GREETING=hello
            ARG WHO
            ENV APP=/srv/app \\
                MODE="two words"
            ENV LEGACY value with spaces
            RUN echo "$GREETING $WHO" > /greeting && mkdir -p /made && echo made > /made/by-run
            RUN ["/bin/sh", "-c", "echo exec-form > /exec-form"]
            ADD index.html ${APP}/html/
            ADD site /srv/site
            ADD pkg.tgz /opt/
            COPY --chown=1000:1000 *.conf $APP/conf/
            COPY . /ctx
            WORKDIR $APP
            WORKDIR sub
            USER nobody
            EXPOSE 80 53/udp
            VOLUME ["/data"]
            LABEL version="1.0" description="all of it"
            STOPSIGNAL SIGQUIT
            ONBUILD RUN echo child
            SHELL ["/bin/sh", "-c"]
            ENTRYPOINT ["/bin/sh", "-c"]
            CMD ["cat /greeting; pwd; id -u"]
            """

        static func everythingContext(_ box: Sandbox) throws -> String {
            let dir = try context(
                box, "ctx", dockerfile: everything,
                files: [
                    "index.html": "<h1>hi</h1>\n", "site/a": "a\n", "site/deep/b": "b\n", "one.conf": "1\n", "two.conf": "2\n",
                    "secret.txt": "secret\n", "notes/private.txt": "private\n", ".dockerignore": "*.txt\n**/*.txt\n",
                ])
            try sh("mkdir -p \(box.dir)/tarsrc/pkg && echo inside > \(box.dir)/tarsrc/pkg/f && tar -C \(box.dir)/tarsrc -czf \(dir)/pkg.tgz pkg")
            return dir
        }

        @Test func everyInstructionShowsItsEffect() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box, "base:1")
                let dir = try Self.everythingContext(box)
                let trace = box.dir + "/build.jsonl"
                let build = try box.vitro(["build", "-t", "all:1", "--build-arg", "WHO=world", "--trace", trace, dir], timeout: 300)
                #expect(build.status == 0, "\(build.stdout)\(build.stderr)")
                let lines = build.stdout.split(separator: "\n").map(String.init)
                let steps = lines.filter { $0.hasPrefix("Step ") }
                #expect(steps.count == 25 && steps.first == "Step 1/25 : ARG BASE=base" && steps[1] == "Step 2/25 : FROM ${BASE}:1", "\(steps)")
                #expect(lines.filter { $0.hasPrefix(" ---> Running in ") }.count == 2)
                #expect(lines.filter { $0.hasPrefix("Removing intermediate container ") }.count == 2)
                #expect(lines.suffix(2).first?.hasPrefix("Successfully built ") == true)
                #expect(lines.last == "Successfully tagged all:1")
                #expect(!lines.contains { $0.contains("Using cache") })
                #expect(Self.containers(box).isEmpty, "the step containers are gone: \(Self.containers(box))")

                // The default command (ENTRYPOINT + CMD), as the user, in the working directory.
                let plain = try box.vitro(["run", "--rm", "all:1"])
                #expect(plain.stdout == "hello world\n/srv/app/sub\n65534\n", "\(plain.stdout)\(plain.stderr)")
                // Files, owners, the unpacked tar, the environment.
                let probe = try box.vitro([
                    "run", "--rm", "all:1",
                    "echo $APP \"$MODE\" \"$LEGACY\" [$GREETING]; cat /made/by-run /exec-form /srv/app/html/index.html /srv/site/a /srv/site/deep/b /opt/pkg/f; stat -c '%u:%g %n' /srv/app/conf/one.conf /srv/app/conf/two.conf /srv/site/a; ls -a /ctx | tr '\\n' ' '; echo; ls /ctx/notes",
                ])
                #expect(probe.status == 0, "\(probe.stderr)")
                #expect(probe.stdout == """
                    /srv/app two words value with spaces []
                    made
                    exec-form
                    <h1>hi</h1>
                    a
                    b
                    inside
                    1000:1000 /srv/app/conf/one.conf
                    1000:1000 /srv/app/conf/two.conf
                    0:0 /srv/site/a
                    . .. .dockerignore Dockerfile index.html notes one.conf pkg.tgz site two.conf 

                    """, "the build ARG is not in the image's environment; .dockerignore kept the .txt files out: \(probe.stdout)")
                // The volume is a volume of every container of the image.
                let volume = try box.vitro(["run", "--rm", "all:1", "mount | grep -c ' /data '"])
                #expect(volume.stdout == "1\n", "\(volume.stdout)\(volume.stderr)")

                // The config: labels, ports, volume, stop signal, onbuild, author, history.
                let inspect = try box.vitro([
                    "inspect", "-f",
                    "{{.Author}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{.Config.StopSignal}}|{{json .Config.OnBuild}}|{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}",
                    "all:1",
                ])
                #expect(inspect.stdout == """
                    Tester <t@example.com>|{"version":"1.0","description":"all of it"}|{"80/tcp":{},"53/udp":{}}|{"/data":{}}|SIGQUIT|["RUN echo child"]|nobody|/srv/app/sub|["/bin/sh","-c"]|["cat /greeting; pwd; id -u"]

                    """, "\(inspect.stdout)\(inspect.stderr)")
                let history = try box.vitro(["history", "--no-trunc", "all:1"])
                #expect(history.stdout.contains("|2 GREETING=hello WHO=world /bin/sh -c echo \"$GREETING $WHO\""), "\(history.stdout)")
                #expect(history.stdout.contains("/bin/sh -c #(nop)  EXPOSE 80/tcp 53/udp") || history.stdout.contains("/bin/sh -c #(nop)  EXPOSE 80 53/udp"))
                let config = try JSONSerialization.jsonObject(with: Data(try box.vitro(["inspect", "all:1"]).stdout.utf8)) as? [[String: Any]]
                let layers = ((config?.first?["RootFS"] as? [String: Any])?["Layers"] as? [Any])?.count
                #expect(layers == 8, "the base, two RUNs, three ADDs, two COPYs: \(String(describing: layers))")

                // The trace: a build stage per step, and the RUN containers' stages between.
                let events = try readTrace(trace)
                let stages = events.filter { ($0["ph"] as? String) == "B" }.compactMap { $0["name"] as? String }
                #expect(events.filter { ($0["name"] as? String) == "step" }.count == 25)
                #expect(stages.filter { $0 == "build" }.count == 25 + 2, "a RUN step's build stage resumes after its container's stages")
                #expect(stages.filter { $0 == "exec" }.count == 2 && stages.contains("namespaces"))
                #expect(events.contains { ($0["name"] as? String) == "step" && (($0["args"] as? [String: Any])?["instruction"] as? String) == "USER nobody" })
                #expect(events.contains { ($0["name"] as? String) == "copy" && (($0["args"] as? [String: Any])?["path"] as? String) == "/srv/app/conf/one.conf" })
                // ONBUILD fires in a child build, right after its FROM, and is not inherited.
                let child = try box.vitro(["build", "-t", "child:1", "-f", "-", dir], input: "FROM all:1\nLABEL child=yes\n", timeout: 120)
                #expect(child.status == 0, "\(child.stderr)")
                #expect(child.stdout.contains("# Executing 1 build trigger\n ---> Running in ") && child.stdout.contains("\nchild\n"), "\(child.stdout)")
                let childConfig = try box.vitro(["inspect", "-f", "{{json .Config}}", "child:1"]).stdout
                #expect(childConfig.contains("\"child\":\"yes\"") && !childConfig.contains("OnBuild"), "\(childConfig)")
                Integration.Ch09Commit.storeIsClean(box)
            }
        }

        /// The tutorial's Dockerfile (../shared/seeds), unchanged, offline: its base image is
        /// the busybox rootfs named ubuntu:12.04, with an apt-get that "installs" nginx.
        @Test func theTutorialDockerfileBuildsOffline() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box, "ubuntu:12.04", extra: """
                    mkdir -p usr/bin usr/sbin
                    cat > usr/bin/apt-get <<'EOF'
                    #!/bin/sh
                    echo "apt-get $*"
                    case "$*" in *install*nginx*) printf '#!/bin/sh\\necho nginx serving; cat /var/www/html/index.html\\n' > /usr/sbin/nginx; chmod +x /usr/sbin/nginx;; esac
                    EOF
                    chmod +x usr/bin/apt-get
                    """)
                let dir = try Self.context(
                    box, "www",
                    dockerfile: """

                        # yet another ngnix
                        FROM ubuntu:12.04
                        MAINTAINER feisky <feisky@root>
                        RUN apt-get update
                        RUN apt-get -y install nginx
                        # put my local site to /var/www
                        ADD index.html /var/www/html/
                        # expose httpd port
                        EXPOSE 80
                        # the command to run
                        CMD ["/usr/sbin/nginx"]

                        """, files: ["index.html": "my local site\n"])
                let build = try box.vitro(["build", "-t", "ubuntu:www", dir], timeout: 300)
                #expect(build.status == 0, "\(build.stdout)\(build.stderr)")
                #expect(build.stdout.hasPrefix("Step 1/7 : FROM ubuntu:12.04\n ---> "), "\(build.stdout)")
                #expect(build.stdout.contains("Step 3/7 : RUN apt-get update\n ---> Running in ") && build.stdout.contains("\napt-get update\n"))
                #expect(build.stdout.hasSuffix("Successfully tagged ubuntu:www\n"))
                let run = try box.vitro(["run", "--rm", "ubuntu:www"])
                #expect(run.stdout == "nginx serving\nmy local site\n", "\(run.stdout)\(run.stderr)")
                let images = try box.vitro(["images"])
                #expect(images.stdout.split(separator: "\n").count == 3, "the intermediate images are hidden: \(images.stdout)")
                let all = try box.vitro(["images", "-a"])
                #expect(all.stdout.split(separator: "\n").count == 8, "\(all.stdout)")
            }
        }

        @Test func aSecondBuildUsesTheCacheAndAChangedFileIsCopiedAgain() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box, "base:1")
                let dir = try Self.context(
                    box, "c",
                    dockerfile: """
                        FROM base:1
                        ENV A=1
                        RUN echo run >> /log
                        COPY file /file
                        RUN cat /file >> /log
                        CMD ["cat", "/log"]
                        """, files: ["file": "one\n"])
                let first = try box.vitro(["build", "-t", "c:1", dir], timeout: 300)
                #expect(first.status == 0, "\(first.stderr)")
                let second = try box.vitro(["build", "-t", "c:2", dir], timeout: 300)
                #expect(second.status == 0, "\(second.stderr)")
                #expect(second.stdout.components(separatedBy: " ---> Using cache\n").count - 1 == 5, "\(second.stdout)")
                #expect(!second.stdout.contains("Running in"))
                let ids = try box.vitro(["inspect", "-f", "{{.Id}}", "c:1", "c:2"]).stdout.split(separator: "\n")
                #expect(ids.count == 2 && ids[0] == ids[1], "the same image: \(ids)")

                // touch alone changes nothing; new content is copied again, and the steps after it rerun.
                try Self.sh("touch -d '2001-01-01' \(dir)/file")
                let touched = try box.vitro(["build", dir], timeout: 300)
                #expect(touched.stdout.components(separatedBy: " ---> Using cache\n").count - 1 == 5, "\(touched.stdout)")
                try "two\n".write(toFile: dir + "/file", atomically: false, encoding: .utf8)
                let third = try box.vitro(["build", "-t", "c:3", dir], timeout: 300)
                #expect(third.status == 0, "\(third.stderr)")
                let parts = third.stdout.components(separatedBy: "Step 4/6 : COPY file /file")
                #expect(parts.count == 2 && parts[0].components(separatedBy: "Using cache").count - 1 == 2 && !parts[1].contains("Using cache"), "\(third.stdout)")
                let run = try box.vitro(["run", "--rm", "c:3"])
                #expect(run.stdout == "run\ntwo\n", "\(run.stdout)\(run.stderr)")

                // --no-cache runs every step.
                let fresh = try box.vitro(["build", "--no-cache", "-q", dir], timeout: 300)
                #expect(fresh.status == 0 && !fresh.stdout.contains("Using cache") && fresh.stdout.hasPrefix("sha256:"), "\(fresh.stdout)\(fresh.stderr)")
                #expect(Self.containers(box).isEmpty)
            }
        }

        @Test func readingOutsideTheContextIsRefused() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box, "base:1")
                let dir = try Self.context(box, "escape", dockerfile: "FROM base:1\n", files: ["inside": "ok\n"])
                try Self.sh("""
                    echo outside > \(box.dir)/outside
                    ln -s /etc/passwd \(dir)/passwd-link
                    ln -s ../outside \(dir)/up-link
                    ln -s /etc \(dir)/etc-link
                    ln -s inside \(dir)/in-link
                    """)
                let before = try box.vitro(["images", "-a", "-q"]).stdout
                let cases: [(String, String)] = [
                    ("COPY ../outside /x", "COPY failed: forbidden path outside the build context: ../outside"),
                    ("COPY sub/../../outside /x", "COPY failed: forbidden path outside the build context: sub/../../outside"),
                    ("COPY passwd-link /x", "COPY failed: forbidden path outside the build context: passwd-link (a symlink leads out of it)"),
                    ("ADD up-link /x", "ADD failed: forbidden path outside the build context: up-link (a symlink leads out of it)"),
                    ("COPY etc-link/passwd /x", "COPY failed: forbidden path outside the build context: etc-link/passwd (a symlink leads out of it)"),
                    ("COPY /etc/passwd /x", "COPY failed: file not found in build context or excluded by .dockerignore: /etc/passwd"),
                    ("ADD http://example.com/x /x", "ADD failed: http://example.com/x: remote URLs are not supported (vitro builds offline); put the file in the build context and COPY it"),
                ]
                for (line, message) in cases {
                    let o = try box.vitro(["build", "-f", "-", dir], input: "FROM base:1\n\(line)\n")
                    #expect(o.status == 125, "\(line): \(o.stdout)\(o.stderr)")
                    #expect(o.stderr == "vitro: build: \(message)\n", "\(line)")
                }
                // A link that stays inside is followed, as Docker follows it.
                let inside = try box.vitro(["build", "-f", "-", "-t", "in:1", dir], input: "FROM base:1\nCOPY in-link /copied\n")
                #expect(inside.status == 0, "\(inside.stderr)")
                #expect(try box.vitro(["run", "--rm", "in:1", "cat", "/copied"]).stdout == "ok\n")
                #expect(try box.vitro(["images", "-a", "-q"]).stdout.split(separator: "\n").count == before.split(separator: "\n").count + 1)
                Integration.Ch09Commit.storeIsClean(box)
            }
        }

        @Test func anUnknownInstructionIsNamedByItsLine() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box, "base:1")
                let dir = try Self.context(box, "bad", dockerfile: "FROM base:1\n# fine so far\nRUN echo never\nFROB the thing\n")
                let o = try box.vitro(["build", "-t", "bad:1", dir])
                #expect(o.status == 125)
                #expect(o.stderr == "vitro: build: dockerfile parse error line 4: unknown instruction: FROB\n", "\(o.stderr)")
                #expect(o.stdout.isEmpty, "nothing ran: \(o.stdout)")
                #expect(try box.vitro(["images", "-a", "-q"]).stdout.split(separator: "\n").count == 1)
            }
        }

        @Test func aFailedRunLeavesNothingBehind() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box, "base:1")
                let dir = try Self.context(box, "fail", dockerfile: "FROM base:1\nRUN echo before > /f && echo out && exit 3\nCMD [\"true\"]\n")
                let o = try box.vitro(["build", "-t", "fail:1", dir], timeout: 120)
                #expect(o.status == 3, "docker build passes the command's code on: \(o.status)")
                #expect(o.stderr == "vitro: build: the command '/bin/sh -c echo before > /f && echo out && exit 3' returned a non-zero code: 3\n", "\(o.stderr)")
                #expect(o.stdout.contains(" ---> Running in ") && o.stdout.contains("\nout\n") && o.stdout.contains("Removing intermediate container "))
                #expect(!o.stdout.contains("Step 3/3"))
                #expect(Self.containers(box).isEmpty, "\(Self.containers(box))")
                #expect(try box.vitro(["ps", "-a", "-q"]).stdout.isEmpty)
                #expect(try box.vitro(["images", "-a", "-q"]).stdout.split(separator: "\n").count == 1)
                // A command that cannot start at all: 127, as docker says it.
                let missing = try box.vitro(["build", "-f", "-", dir], input: "FROM base:1\nRUN [\"/no/such/command\"]\n", timeout: 120)
                #expect(missing.status == 127, "\(missing.stderr)")
                #expect(Self.containers(box).isEmpty)
                Integration.Ch09Commit.storeIsClean(box)
            }
        }

        /// The build scripts/make-golden makes for chapter 10, compared with Traces/10-build.jsonl.
        @Test func goldenTraceMatchesAFreshBuild() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.sh("tar -C \(box.rootfs) -cf \(box.dir)/rootfs.tar .")
                #expect(try box.vitro(["import", "-m", "golden", box.dir + "/rootfs.tar", "golden:base"]).status == 0)
                let dir = try Self.context(
                    box, "ctx10", dockerfile: "FROM golden:base\nENV GREETING=hello\nRUN echo \"$GREETING\" > /greeting\nCOPY hello.txt /srv/\nCMD [\"cat\", \"/greeting\"]\n",
                    files: ["hello.txt": "hello\n"])
                let trace = box.dir + "/build.jsonl"
                let build = try box.vitro(["build", "--trace", trace, "-t", "golden:built", dir], timeout: 120)
                #expect(build.status == 0, "\(build.stderr)")
                let normalized = try box.vitro(["trace", "normalize", "--stage", "build", trace])
                #expect(normalized.status == 0, "\(normalized.stderr)")
                try Integration.GoldenTraces.expectMatches("10-build.jsonl", normalized.stdout, minimum: 21)
            }
        }

        /// Docker's classic builder, given the same base image, context and Dockerfile,
        /// makes an image that behaves the same: the same default output, files, owners,
        /// environment and config.
        @Test(.enabled(if: DockerDaemon.available, "needs dockerd and docker (apt-get install -y docker.io)"))
        func dockerBuildsTheSameDockerfileToTheSameEffect() throws {
            try leavesNothing {
                let box = try Sandbox()
                try Self.base(box, "base:1")
                let dir = try Self.everythingContext(box)
                let build = try box.vitro(["build", "-t", "all:1", "--build-arg", "WHO=world", dir], timeout: 300)
                #expect(build.status == 0, "\(build.stderr)")
                guard let docker = DockerDaemon.started() else { return }
                defer { docker.stop() }
                let saved = box.dir + "/base-for-docker.tar"
                #expect(try box.vitro(["save", "-o", saved, "base:1"]).status == 0)
                #expect(try docker.run(["load", "-i", saved]).status == 0)
                let dbuild = try runProcess(
                    DockerDaemon.client ?? "/usr/bin/docker", ["build", "--network", "none", "-t", "all:1", "--build-arg", "WHO=world", dir],
                    env: ["DOCKER_HOST": "unix://" + docker.socket, "DOCKER_BUILDKIT": "0"], timeout: 300)
                #expect(dbuild.status == 0, "\(dbuild.stdout)\(dbuild.stderr)")
                #expect(dbuild.stdout.contains("Step 25/25 : CMD [\"cat /greeting; pwd; id -u\"]"), "the same steps: \(dbuild.stdout)")
                let probe = "echo $APP \"$MODE\" \"$LEGACY\" [$GREETING]; cat /made/by-run /exec-form /srv/app/html/index.html /opt/pkg/f; stat -c '%u:%g %a %n' /srv/app/conf/one.conf /srv/site/a /srv/site/deep; ls -a /ctx | tr '\\n' ' '; mount | grep -c ' /data '"
                for args in [[String](), [probe]] {
                    let v = try box.vitro(["run", "--rm", "all:1"] + args)
                    let d = try docker.run(["run", "--rm", "--network", "none", "all:1"] + args)
                    #expect(v.status == 0 && d.status == 0, "\(v.stderr)\(d.stderr)")
                    #expect(v.stdout == d.stdout, "vitro:\n\(v.stdout)docker:\n\(d.stdout)")
                }
                let template = "{{.Author}}|{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{.Config.StopSignal}}|{{json .Config.OnBuild}}|{{json .Config.Volumes}}|{{json .Config.Env}}"
                let vi = try box.vitro(["inspect", "-f", template, "all:1"])
                let di = try docker.run(["image", "inspect", "-f", template, "all:1"])
                #expect(vi.stdout == di.stdout.replacingOccurrences(of: "\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",", with: ""), "vitro: \(vi.stdout)docker: \(di.stdout)")
            }
        }
    }
}
