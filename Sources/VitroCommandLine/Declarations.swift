// vitro's command line: commands declare their flags, options and arguments as property
// wrappers; Parser.swift reads argv into them the way Docker's CLI does.
//
// vitro used swift-argument-parser until issue 9 measured it: it brought Foundation
// (FoundationEssentials, with Dispatch and the regex libraries) into a binary that uses
// none of it — half of the pages the dynamic loader relocates at every start — and spent
// about a millisecond of every `vitro run` building its command tree. This module is
// the part of it vitro needs, with Docker's rules where the two differ (pflag's): an
// option's value is the next word whatever it looks like (`--memory-swap -1`), a flag
// takes `=false`, short flags group (`-dit`, `-dp 80:80`), options stop at the first
// word of a command that runs one (`run`, `exec`), and a mistake is one line and exit
// status 125.
//
// A declaration names its flag as Docker's CLI spells it (`@Flag("-d", "--detach")`,
// `@Option("--cap-add")`). Each wrapper keeps its value in a small box shared by every
// copy, and, while a command is being made for parsing, registers itself with the
// parser (`Declarations`), in declaration order: no reflection at run time, which cost
// a start half a millisecond of the Swift runtime's type lookups.

#if canImport(Glibc)
import Glibc
#endif

/// A type an option or argument's word converts to.
public protocol ExpressibleByArgument {
    init?(argument: String)
}

extension String: ExpressibleByArgument {
    public init?(argument: String) { self = argument }
}

extension Int: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension Int32: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension Int64: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension Double: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension Bool: ExpressibleByArgument {
    /// The words Go's strconv.ParseBool takes, as Docker's flags do.
    public init?(argument: String) {
        switch argument {
        case "1", "t", "T", "true", "TRUE", "True": self = true
        case "0", "f", "F", "false", "FALSE", "False": self = false
        default: return nil
        }
    }
}

extension ExpressibleByArgument where Self: RawRepresentable, RawValue == String {
    public init?(argument: String) { self.init(rawValue: argument) }
}

/// A line of help for a flag, option or argument; `.hidden` leaves it out of `--help`.
public struct ArgumentHelp: ExpressibleByStringLiteral, Sendable {
    let text: String
    let hidden: Bool

    public init(stringLiteral text: String) {
        self.text = text
        self.hidden = false
    }

    init(text: String, hidden: Bool) {
        self.text = text
        self.hidden = hidden
    }

    public static let hidden = ArgumentHelp(text: "", hidden: true)
}

/// How positional arguments are taken.
public enum ArgumentParsing: Sendable {
    /// One word per argument, options anywhere among them.
    case remaining
    /// From the first positional word on, every word is an argument, options included:
    /// `vitro run [OPTIONS] IMAGE COMMAND -x` (Docker's non-interspersed commands).
    case captureForPassthrough
    /// Every word as given, options included (`create` hands them to `run`'s parser).
    case verbatim
}

/// The wrapped value's storage, shared by every copy of the wrapper.
final class Storage<Value> {
    var value: Value?
    init(_ value: Value?) { self.value = value }

    var wrapped: Value {
        guard let value else { preconditionFailure("bug: a required argument read before the command line was parsed") }
        return value
    }

    /// A slot's `take`: converts a word (given the value so far, and whether it is the
    /// first word given) and keeps the result.
    func taking(_ convert: @escaping (Value?, String, Bool) -> Value?) -> (String, Bool) -> Bool {
        { word, first in
            guard let v = convert(self.value, word, first) else { return false }
            self.value = v
            return true
        }
    }
}

/// Gathers the flags, options and arguments a command's `init()` declares, in order.
final class Declarations: @unchecked Sendable {
    /// The declarations being gathered on this thread, if any: a thread-specific slot
    /// (tests parse on several threads at once). Not a `@TaskLocal`, which alone linked
    /// Swift's concurrency runtime and libdispatch into vitro, and libdispatch's
    /// start-up (it reads the CPU count from /sys) into every vitro process.
    static var current: Declarations? {
        guard let p = pthread_getspecific(currentKey) else { return nil }
        return Unmanaged<Declarations>.fromOpaque(p).takeUnretainedValue()
    }

    private static let currentKey: pthread_key_t = {
        var key = pthread_key_t()
        guard pthread_key_create(&key, nil) == 0 else { preconditionFailure("pthread_key_create: no key left") }
        return key
    }()

    var slots: [Slot] = []
    /// The title of the option group being made (`@OptionGroup(title:)`).
    var group: String?

    /// `make()`'s value and what its wrappers declared.
    static func of<T>(_ make: () -> T) -> (T, [Slot]) {
        let d = Declarations()
        let outer = pthread_getspecific(currentKey)
        pthread_setspecific(currentKey, Unmanaged.passUnretained(d).toOpaque())
        defer { pthread_setspecific(currentKey, outer) }
        let value = withExtendedLifetime(d) { make() }
        return (value, d.slots)
    }

    /// Called by each wrapper's initializer; nothing happens outside `of`.
    static func declare(_ kind: Slot.Kind, _ names: [String], help: ArgumentHelp, repeats: Bool, required: Bool, take: @escaping (String, Bool) -> Bool) {
        guard let d = current else { return }
        d.slots.append(Slot(kind: kind, names: names, help: help, group: d.group, repeats: repeats, required: required, take: take))
    }
}

/// One flag, option or positional argument of a command, as the parser sees it.
final class Slot {
    enum Kind { case flag, option, positional(ArgumentParsing) }

    let kind: Kind
    /// `--cap-add` as `cap-add`; `-e` as `e`.
    let longNames: [String]
    let shortNames: [Character]
    let help: ArgumentHelp
    /// How help and errors call a positional argument or an option's value.
    let valueName: String
    let group: String?
    /// Takes more than one word (an array).
    let repeats: Bool
    /// Must be given (an argument or option with neither default nor optional type).
    let required: Bool
    /// Stores a word (the first given replaces an array's default); false when it does
    /// not convert.
    let take: (String, _ first: Bool) -> Bool
    var given = false

    init(kind: Kind, names: [String], help: ArgumentHelp, group: String?, repeats: Bool, required: Bool, take: @escaping (String, Bool) -> Bool) {
        self.kind = kind
        var long: [String] = [], short: [Character] = []
        for n in names {
            if n.hasPrefix("--") {
                long.append(String(n.dropFirst(2)))
            } else if n.hasPrefix("-"), n.count == 2, let c = n.last {
                short.append(c)
            } else if case .positional = kind {
                long.append(n)
            } else {
                preconditionFailure("bug: \"\(n)\" is neither -x nor --name")
            }
        }
        if case .positional = kind {
            self.longNames = []
            self.shortNames = []
            self.valueName = long.first ?? "arg"
        } else {
            self.longNames = long
            self.shortNames = short
            self.valueName = long.first ?? short.first.map(String.init) ?? "value"
        }
        self.help = help
        self.group = group
        self.repeats = repeats
        self.required = required
        self.take = take
    }
}

/// `--name VALUE` (and `--name=VALUE`, `-n VALUE`, `-nVALUE`). An array option takes
/// one value per use.
@propertyWrapper
public struct Option<Value> {
    let storage: Storage<Value>

    public var wrappedValue: Value {
        get { storage.wrapped }
        nonmutating set { storage.value = newValue }
    }

    init(_ names: [String], help: ArgumentHelp, storage: Storage<Value>, required: Bool, repeats: Bool, convert: @escaping (Value?, String, Bool) -> Value?) {
        self.storage = storage
        Declarations.declare(.option, names, help: help, repeats: repeats, required: required, take: storage.taking(convert))
    }
}

extension Option where Value: ExpressibleByArgument {
    public init(wrappedValue: Value, _ names: String..., help: ArgumentHelp = "") {
        self.init(names, help: help, storage: Storage(wrappedValue), required: false, repeats: false) { _, word, _ in Value(argument: word) }
    }

    public init(_ names: String..., help: ArgumentHelp = "") {
        self.init(names, help: help, storage: Storage(nil), required: true, repeats: false) { _, word, _ in Value(argument: word) }
    }
}

extension Option {
    public init<T: ExpressibleByArgument>(_ names: String..., help: ArgumentHelp = "") where Value == T? {
        self.init(names, help: help, storage: Storage(.some(nil)), required: false, repeats: false) { _, word, _ in T(argument: word).map { .some($0) } }
    }

    public init<T: ExpressibleByArgument>(wrappedValue: [T] = [], _ names: String..., help: ArgumentHelp = "") where Value == [T] {
        self.init(names, help: help, storage: Storage(wrappedValue), required: false, repeats: true) { old, word, first in
            // The first use replaces a default; later ones add to it.
            T(argument: word).map { (first ? [] : old ?? []) + [$0] }
        }
    }
}

/// `--name` sets it, `--name=false` clears it (a default of true is turned off so).
@propertyWrapper
public struct Flag {
    let storage: Storage<Bool>

    public init(wrappedValue: Bool, _ names: String..., help: ArgumentHelp = "") {
        let storage = Storage(wrappedValue)
        self.storage = storage
        Declarations.declare(.flag, names, help: help, repeats: false, required: false, take: storage.taking { _, word, _ in Bool(argument: word) })
    }

    public var wrappedValue: Bool {
        get { storage.wrapped }
        nonmutating set { storage.value = newValue }
    }
}

/// A positional argument, named for help and errors. An array takes the rest; without
/// a default it needs one or more.
@propertyWrapper
public struct Argument<Value> {
    let storage: Storage<Value>

    public var wrappedValue: Value {
        get { storage.wrapped }
        nonmutating set { storage.value = newValue }
    }

    init(_ name: String, parsing: ArgumentParsing, help: ArgumentHelp, storage: Storage<Value>, required: Bool, repeats: Bool, convert: @escaping (Value?, String, Bool) -> Value?) {
        self.storage = storage
        Declarations.declare(.positional(parsing), [name], help: help, repeats: repeats, required: required, take: storage.taking(convert))
    }
}

extension Argument where Value: ExpressibleByArgument {
    public init(_ name: String, help: ArgumentHelp = "") {
        self.init(name, parsing: .remaining, help: help, storage: Storage(nil), required: true, repeats: false) { _, word, _ in Value(argument: word) }
    }

    public init(wrappedValue: Value, _ name: String, help: ArgumentHelp = "") {
        self.init(name, parsing: .remaining, help: help, storage: Storage(wrappedValue), required: false, repeats: false) { _, word, _ in Value(argument: word) }
    }
}

extension Argument {
    public init<T: ExpressibleByArgument>(_ name: String, help: ArgumentHelp = "") where Value == T? {
        self.init(name, parsing: .remaining, help: help, storage: Storage(.some(nil)), required: false, repeats: false) { _, word, _ in T(argument: word).map { .some($0) } }
    }

    public init<T: ExpressibleByArgument>(wrappedValue: [T], _ name: String, parsing: ArgumentParsing = .remaining, help: ArgumentHelp = "") where Value == [T] {
        self.init(name, parsing: parsing, help: help, storage: Storage(wrappedValue), required: false, repeats: true) { old, word, first in
            T(argument: word).map { (first ? [] : old ?? []) + [$0] }
        }
    }

    public init<T: ExpressibleByArgument>(_ name: String, parsing: ArgumentParsing = .remaining, help: ArgumentHelp = "") where Value == [T] {
        self.init(name, parsing: parsing, help: help, storage: Storage([]), required: true, repeats: true) { old, word, first in
            T(argument: word).map { (first ? [] : old ?? []) + [$0] }
        }
    }
}

/// Options declared in a type of their own and shared by several commands; `title`
/// heads them in `--help`.
@propertyWrapper
public struct OptionGroup<Value: ParsableArguments> {
    public var wrappedValue: Value

    public init(title: String? = nil) {
        let d = Declarations.current
        let outer = d?.group
        if let title { d?.group = title }
        wrappedValue = Value()
        d?.group = outer
    }
}
