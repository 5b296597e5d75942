// Reading argv into a command's declared properties, `--help`, and the process's exit.

#if canImport(Glibc)
import Glibc
#endif

/// A command's name, its one-line description, its help text and its subcommands.
public struct CommandConfiguration: Sendable {
    public enum HelpName: Sendable { case long, short }

    let commandName: String
    let abstract: String
    let discussion: String
    let version: String?
    let subcommands: [any ParsableCommand.Type]
    let aliases: [String]
    let helpNames: [HelpName]

    public init(
        commandName: String, abstract: String = "", discussion: String = "", version: String? = nil,
        subcommands: [any ParsableCommand.Type] = [], aliases: [String] = [], helpNames: [HelpName] = [.short, .long]
    ) {
        self.commandName = commandName
        self.abstract = abstract
        self.discussion = discussion
        self.version = version
        self.subcommands = subcommands
        self.aliases = aliases
        self.helpNames = helpNames
    }
}

/// A type made of flags, options and arguments (a command, or a group of options several
/// commands share).
public protocol ParsableArguments: SendableMetatype {
    init()
    /// Checks what was parsed; a `ValidationError` is printed as the command's error.
    mutating func validate() throws
}

extension ParsableArguments {
    public mutating func validate() throws {}

    /// The flags, options and arguments of a new instance (for `--help`).
    static func declaredSlots() -> [Slot] { Declarations.of { Self() }.1 }
}

public protocol ParsableCommand: ParsableArguments {
    static var configuration: CommandConfiguration { get }
    mutating func run() throws
}

extension ParsableCommand {
    /// A command made only of subcommands prints its help.
    public mutating func run() throws {
        throw CommandLineError.help(Self.self, path: [Self.configuration.commandName])
    }

    /// Parses `arguments` (without the command's own name) as this command alone.
    public static func parse(_ arguments: [String]) throws -> Self {
        try parse(arguments, path: [configuration.commandName])
    }

    static func parse(_ words: [String], path: [String]) throws -> Self {
        var command = try CommandParser<Self>(type: Self.self, path: path).parse(words)
        try command.validate()
        return command
    }

    /// Parses the process's arguments down the subcommand tree and runs the command.
    public static func main(_ arguments: [String]? = nil) -> Never {
        let words = arguments ?? Array(CommandLine.arguments.dropFirst())
        do {
            var command = try resolve(words)
            try command.run()
            Glibc.exit(0)
        } catch {
            exit(withError: error)
        }
    }

    public static func main() -> Never { main(nil) }

    /// The command `words` name (subcommands first, then its own arguments), parsed and
    /// validated.
    static func resolve(_ words: [String]) throws -> any ParsableCommand {
        var type: any ParsableCommand.Type = Self.self
        var path = [configuration.commandName]
        var rest = words[...]
        while let word = rest.first, !type.configuration.subcommands.isEmpty {
            if word == "help" {
                var target: any ParsableCommand.Type = type
                var helpPath = path
                for name in rest.dropFirst() {
                    guard let sub = target.subcommand(named: name) else { break }
                    target = sub
                    helpPath.append(sub.configuration.commandName)
                }
                throw CommandLineError.help(target, path: helpPath)
            }
            if word == "--version", let version = type.configuration.version { throw CommandLineError.version(version) }
            guard !word.hasPrefix("-") else { break }
            guard let sub = type.subcommand(named: word) else {
                throw CommandLineError.usage("unknown command \"\(word)\"", path: path)
            }
            type = sub
            path.append(sub.configuration.commandName)
            rest = rest.dropFirst()
        }
        if !type.configuration.subcommands.isEmpty, rest.isEmpty { throw CommandLineError.help(type, path: path) }
        return try type.parsed(Array(rest), path: path)
    }

    static func subcommand(named name: String) -> (any ParsableCommand.Type)? {
        configuration.subcommands.first { $0.configuration.commandName == name || $0.configuration.aliases.contains(name) }
    }

    static func parsed(_ words: [String], path: [String]) throws -> any ParsableCommand {
        try parse(words, path: path)
    }

    /// Prints what `error` says and exits: help and the version on stdout (0), an
    /// `ExitCode` silently, anything else as one line `vitro: …` on stderr (125, as
    /// Docker's CLI exits on bad usage).
    public static func exit(withError error: (any Error)?) -> Never {
        switch error {
        case nil:
            Glibc.exit(0)
        case let e as CommandLineError:
            switch e {
            case .help(let type, let path):
                writeOut(1, helpText(type, path: path))
                Glibc.exit(0)
            case .version(let text):
                writeOut(1, text + "\n")
                Glibc.exit(0)
            case .usage(let message, let path):
                writeOut(2, "\(path[0]): \(message) (see '\(path.joined(separator: " ")) --help')\n")
                Glibc.exit(125)
            }
        case let e as ExitCode:
            Glibc.exit(e.rawValue)
        case let e as ValidationError:
            writeOut(2, "\(configuration.commandName): \(e.message)\n")
            Glibc.exit(125)
        case let e?:
            writeOut(2, "\(configuration.commandName): \(e)\n")
            Glibc.exit(125)
        }
    }
}

/// A message for the user about what was parsed (`validate()` throws it).
public struct ValidationError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Thrown from `run()` to exit with this status and nothing printed.
public struct ExitCode: Error {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
}

/// What the parser stops on: a mistake in the words, or a request for help or version.
public enum CommandLineError: Error, Equatable {
    case usage(String, path: [String])
    case help(any ParsableCommand.Type, path: [String])
    case version(String)

    public static func == (a: Self, b: Self) -> Bool {
        switch (a, b) {
        case let (.usage(m1, p1), .usage(m2, p2)): m1 == m2 && p1 == p2
        case let (.help(t1, p1), .help(t2, p2)): ObjectIdentifier(t1) == ObjectIdentifier(t2) && p1 == p2
        case let (.version(v1), .version(v2)): v1 == v2
        default: false
        }
    }
}

/// Parses one command's words into a new instance of it.
struct CommandParser<Command: ParsableArguments> {
    let type: any ParsableCommand.Type
    let path: [String]

    func parse(_ words: [String]) throws -> Command {
        let (command, slots) = Declarations.of { Command() }
        var long: [String: Slot] = [:]
        var short: [Character: Slot] = [:]
        var positionals: [Slot] = []
        for slot in slots {
            if case .positional = slot.kind { positionals.append(slot); continue }
            for name in slot.longNames {
                if long.updateValue(slot, forKey: name) != nil { preconditionFailure("bug: --\(name) declared twice in \(path.joined(separator: " "))") }
            }
            for c in slot.shortNames {
                if short.updateValue(slot, forKey: c) != nil { preconditionFailure("bug: -\(c) declared twice in \(path.joined(separator: " "))") }
            }
        }
        let helpNames = type.configuration.helpNames
        if let first = positionals.first, case .positional(.verbatim) = first.kind {
            if words.first == "--help" && helpNames.contains(.long) { throw CommandLineError.help(type, path: path) }
            for word in words { _ = first.take(word, !first.given); first.given = true }
            return command
        }
        let captures = positionals.contains { if case .positional(.captureForPassthrough) = $0.kind { true } else { false } }

        var words = words[...]
        var loose: [String] = []
        while let word = words.popFirst() {
            if word == "--" {
                loose += words
                break
            }
            if word.hasPrefix("--"), word.count > 2 {
                let body = word.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let inline = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }
                if name == "help", helpNames.contains(.long), long[name] == nil { throw CommandLineError.help(type, path: path) }
                guard let slot = long[name] else { throw usage("unknown flag: --\(name)") }
                try give(slot, "--\(name)", inline: inline, next: &words)
            } else if word.hasPrefix("-"), word.count > 1 {
                var chars = word.dropFirst()
                while let c = chars.popFirst() {
                    if c == "h", helpNames.contains(.short), short[c] == nil { throw CommandLineError.help(type, path: path) }
                    guard let slot = short[c] else { throw usage("unknown shorthand flag: '\(c)' in \(word)") }
                    if case .flag = slot.kind {
                        let inline = chars.first == "=" ? String(chars.dropFirst()) : nil
                        try give(slot, "-\(c)", inline: inline, next: &words)
                        if inline != nil { break }
                        continue
                    }
                    // An option takes the rest of the group as its value, or the next word.
                    let rest = chars.first == "=" ? chars.dropFirst() : chars
                    try give(slot, "-\(c)", inline: rest.isEmpty ? nil : String(rest), next: &words)
                    break
                }
            } else {
                loose.append(word)
                if captures {
                    loose += words
                    break
                }
            }
        }

        var queue = loose[...]
        for slot in positionals {
            if slot.repeats {
                while let word = queue.popFirst() { try store(slot, word, name: "<\(slot.valueName)>") }
            } else if let word = queue.popFirst() {
                try store(slot, word, name: "<\(slot.valueName)>")
            }
            if slot.required && !slot.given { throw usage("\"\(path.joined(separator: " "))\" requires the argument <\(slot.valueName)>") }
        }
        if let extra = queue.first { throw usage("unexpected argument \"\(extra)\"") }
        for slot in slots where slot.required && !slot.given {
            if case .positional = slot.kind { continue }
            throw usage("required flag --\(slot.longNames.first ?? slot.valueName) not set")
        }
        return command
    }

    /// A flag's `=VALUE` or true; an option's inline value or the next word, whatever it
    /// looks like (`--memory-swap -1`), as Docker's flags take it.
    private func give(_ slot: Slot, _ name: String, inline: String?, next: inout ArraySlice<String>) throws {
        if case .flag = slot.kind {
            try store(slot, inline ?? "true", name: name)
            return
        }
        guard let value = inline ?? next.popFirst() else { throw usage("flag needs an argument: \(name)") }
        try store(slot, value, name: name)
    }

    private func store(_ slot: Slot, _ word: String, name: String) throws {
        guard slot.take(word, !slot.given) else { throw usage("invalid argument \"\(word)\" for \"\(name)\"") }
        slot.given = true
    }

    private func usage(_ message: String) -> CommandLineError { .usage(message, path: path) }
}

/// `--help`: usage, description, then options by group, or the subcommands.
func helpText(_ type: any ParsableCommand.Type, path: [String]) -> String {
    let config = type.configuration
    let slots = type.declaredSlots()
    let arguments = slots.filter { if case .positional = $0.kind { !$0.help.hidden } else { false } }
    let options = slots.filter { if case .positional = $0.kind { false } else { !$0.help.hidden } }
    var usage = "Usage: " + path.joined(separator: " ")
    if !config.subcommands.isEmpty { usage += " COMMAND" }
    if !options.isEmpty { usage += " [OPTIONS]" }
    for a in arguments { usage += " " + (a.help.text.uppercased() == a.help.text && !a.help.text.isEmpty ? a.help.text : a.repeats ? "\(a.valueName.uppercased())..." : a.valueName.uppercased()) }
    var out = usage + "\n"
    if !config.abstract.isEmpty { out += "\n" + config.abstract + "\n" }
    if !config.discussion.isEmpty { out += "\n" + config.discussion + "\n" }
    if !config.subcommands.isEmpty {
        out += "\nCommands:\n"
        let width = config.subcommands.map { $0.configuration.commandName.count }.max() ?? 0
        for sub in config.subcommands {
            let name = sub.configuration.commandName
            out += "  " + name + String(repeating: " ", count: width - name.count + 2) + sub.configuration.abstract + "\n"
        }
        out += "\nRun '\(path.joined(separator: " ")) COMMAND --help' for more on a command.\n"
    }
    if !arguments.isEmpty {
        out += "\nArguments:\n"
        for a in arguments { out += line("  " + a.valueName.uppercased(), a.help.text) }
    }
    var groups: [String?] = []
    for slot in options where !groups.contains(slot.group) { groups.append(slot.group) }
    for group in groups {
        out += "\n" + (group ?? "Options") + ":\n"
        for slot in options where slot.group == group {
            var names = slot.shortNames.map { "-\($0)" } + slot.longNames.map { "--\($0)" }
            if case .option = slot.kind, let last = names.popLast() {
                names.append(last + " " + slot.valueName.uppercased())
            }
            out += line("  " + (slot.shortNames.isEmpty ? "    " : "") + names.joined(separator: ", "), slot.help.text)
        }
    }
    return out
}

private func line(_ left: String, _ text: String) -> String {
    let column = 34
    if left.count + 2 > column { return left + "\n" + String(repeating: " ", count: column) + text + "\n" }
    return left + String(repeating: " ", count: column - left.count) + text + "\n"
}

func writeOut(_ fd: Int32, _ s: String) {
    var bytes = Array(s.utf8)
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress.map { $0 + done }, $0.count - done) }
        if n <= 0 { return }
        done += n
    }
}
