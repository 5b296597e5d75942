// Chapter 10 without root: the Dockerfile parser (comments, continuations, the escape
// directive, unknown instructions named by line), variable substitution where Docker
// applies it, shell words, .dockerignore patterns, and the context's path rule.

import Testing

@testable import VitroBuild

@Suite struct DockerfileParsing {
    @Test func instructionsCommentsAndContinuations() throws {
        let text = """
            # a comment
            FROM busybox
            MAINTAINER feisky <feisky@root>

            RUN apt-get update && \\
            # a comment inside the continuation
                apt-get -y install nginx
            add index.html /var/www/html/
            CMD ["/usr/sbin/nginx"]
            """
        let (list, escape) = try Dockerfile.parse(text)
        #expect(escape == "\\")
        #expect(list.map(\.keyword) == ["FROM", "MAINTAINER", "RUN", "ADD", "CMD"])
        #expect(list.map(\.line) == [2, 3, 5, 8, 9])
        #expect(list[2].arguments == "apt-get update &&     apt-get -y install nginx")
        #expect(list[3].original == "add index.html /var/www/html/")
        #expect(list[4].arguments == "[\"/usr/sbin/nginx\"]")
    }

    @Test func escapeDirectiveChangesTheContinuationCharacter() throws {
        let (list, escape) = try Dockerfile.parse("# escape=`\nFROM scratch\nCOPY a \\ `\nb c:\\dir\n")
        #expect(escape == "`")
        #expect(list.map(\.keyword) == ["FROM", "COPY"])
        #expect(list[1].arguments == "a \\ b c:\\dir", "a backslash is an ordinary character then")
    }

    @Test func aDirectiveAfterAnInstructionIsAComment() throws {
        let (list, escape) = try Dockerfile.parse("FROM scratch\n# escape=`\nLABEL a=b\n")
        #expect(escape == "\\")
        #expect(list.map(\.keyword) == ["FROM", "LABEL"])
    }

    @Test func unknownInstructionNamesTheLine() {
        #expect(throws: BuildError.self) { try Dockerfile.parse("FROM busybox\n\n# x\nRUNN echo\n") }
        do {
            _ = try Dockerfile.parse("FROM busybox\n\n# x\nRUNN echo\n")
        } catch {
            #expect(error.message == "dockerfile parse error line 4: unknown instruction: RUNN")
        }
    }

    @Test func anInstructionWithoutArgumentsIsRefused() {
        do {
            _ = try Dockerfile.parse("FROM busybox\nRUN\n")
            Issue.record("RUN without arguments was accepted")
        } catch {
            #expect(error.message == "dockerfile parse error line 2: RUN requires at least one argument")
        }
    }

    @Test func aContinuationAtTheEndOfTheFileEndsTheInstruction() throws {
        let (list, _) = try Dockerfile.parse("FROM busybox\nRUN echo a \\")
        #expect(list.last?.arguments == "echo a")
    }
}

@Suite struct BuildVariables {
    let values = ["A": "one", "EMPTY": "", "P": "/opt"]
    func expand(_ s: String) throws -> String { try ShellWords.expand(s) { values[$0] } }

    @Test func formsOfSubstitution() throws {
        #expect(try expand("$A") == "one")
        #expect(try expand("${A}x") == "onex")
        #expect(try expand("$P/bin") == "/opt/bin")
        #expect(try expand("${MISSING:-dflt}") == "dflt")
        #expect(try expand("${EMPTY:-dflt}") == "dflt")
        #expect(try expand("${A:-dflt}") == "one")
        #expect(try expand("${A:+set}") == "set")
        #expect(try expand("${MISSING:+set}") == "")
        #expect(try expand("$MISSING.") == ".")
        #expect(try expand("cost $5") == "cost ")
        #expect(try expand("a $ b") == "a $ b")
    }

    @Test func quotesAndEscapes() throws {
        #expect(try expand("'$A'") == "'$A'")
        #expect(try expand("\"$A\"") == "\"one\"")
        #expect(try expand("\\$A") == "\\$A")
        #expect(try ShellWords.split(try expand("\\$A \"$A b\" 'c d'")) == ["$A", "one b", "c d"])
    }

    @Test func badSubstitutionIsAnError() {
        #expect(throws: BuildError.self) { try expand("${A") }
        #expect(throws: BuildError.self) { try expand("${A%%x}") }
        #expect(throws: BuildError.self) { try ShellWords.split("\"open") }
    }

    @Test func execFormAndFlags() {
        #expect(ShellWords.jsonArray("[\"/bin/sh\", \"-c\", \"echo hi\"]") == ["/bin/sh", "-c", "echo hi"])
        #expect(ShellWords.jsonArray("[1, 2]") == nil)
        #expect(ShellWords.jsonArray("echo [x]") == nil)
        let (flags, rest) = ShellWords.flags("--chown=1000:1000 --chmod=644 a b")
        #expect(flags.map(\.0) == ["chown", "chmod"] && flags.map(\.1) == ["1000:1000", "644"])
        #expect(rest == "a b")
    }
}

@Suite struct DockerIgnorePatterns {
    @Test func patternsExceptionsAndParents() {
        let ignore = DockerIgnore("""
            # secrets
            *.txt
            !keep.txt
            build/
            **/*.tmp
            /docs/*/draft
            """)
        #expect(ignore.excludes("secret.txt"))
        #expect(!ignore.excludes("keep.txt"))
        #expect(!ignore.excludes("dir/secret.txt"), "* does not cross /")
        #expect(ignore.excludes("build"))
        #expect(ignore.excludes("build/out/a.o"), "a file under an excluded directory")
        #expect(ignore.excludes("a/b/c.tmp") && ignore.excludes("c.tmp"))
        #expect(ignore.excludes("docs/x/draft") && !ignore.excludes("docs/draft"))
        #expect(!ignore.excludes("index.html"))
        #expect(ignore.hasExceptions)
    }

    @Test func lastMatchWins() {
        let ignore = DockerIgnore("!a.txt\n*.txt\n")
        #expect(ignore.excludes("a.txt"))
    }

    @Test func globs() {
        #expect(DockerIgnore.glob("f?o", "foo") && !DockerIgnore.glob("f?o", "fo"))
        #expect(DockerIgnore.glob("[a-c]x", "bx") && !DockerIgnore.glob("[a-c]x", "dx"))
        #expect(DockerIgnore.glob("[^a]x", "bx") && !DockerIgnore.glob("[^a]x", "ax"))
        #expect(DockerIgnore.glob("a\\*", "a*") && !DockerIgnore.glob("a\\*", "ab"))
    }
}

@Suite struct BuildContextPaths {
    @Test func sourcesStayInsideTheContext() {
        #expect(BuildContext.components("a/./b") == ["a", "b"])
        #expect(BuildContext.components("/etc/passwd") == ["etc", "passwd"], "an absolute source is taken from the context's root, as Docker does")
        #expect(BuildContext.components("a/../b") == ["b"])
        #expect(BuildContext.components("../x") == nil)
        #expect(BuildContext.components("a/../../x") == nil)
        #expect(BuildContext.components(".") == [])
    }
}
