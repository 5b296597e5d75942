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
// Each wrapper keeps its value in a small shared box, so the parser can fill the
// command's properties through the copies `Mirror` hands it, which also gives each
// property's name (`capAdd` becomes `--cap-add`).

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

/// The names of a flag or option: `.long` is the property's name in kebab case
/// (`--cap-add`), `.short` its first letter.
public struct NameSpecification: ExpressibleByArrayLiteral, Sendable {
    public enum Element: Sendable, Equatable {
        case long, short
        case customLong(String)
        case customShort(Character)
    }

    let elements: [Element]

    public init(arrayLiteral elements: Element...) { self.elements = elements }
    init(_ elements: [Element]) { self.elements = elements }

    public static let long = NameSpecification([.long])
    public static let short = NameSpecification([.short])
    public static let shortAndLong = NameSpecification([.short, .long])

    public static func customLong(_ name: String) -> NameSpecification { NameSpecification([.customLong(name)]) }
    public static func customShort(_ c: Character) -> NameSpecification { NameSpecification([.customShort(c)]) }

    func longNames(label: String) -> [String] {
        elements.compactMap {
            switch $0 {
            case .long: kebabCase(label)
            case .customLong(let name): name
            default: nil
            }
        }
    }

    func shortNames(label: String) -> [Character] {
        elements.compactMap {
            switch $0 {
            case .short: label.first
            case .customShort(let c): c
            default: nil
            }
        }
    }
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
}

/// A property the parser fills: what each wrapper tells it about itself.
protocol Declared {
    func slots(label: String, group: String?) -> [Slot]
}

/// One flag, option or positional argument of a command, as the parser sees it.
final class Slot {
    enum Kind { case flag, option, positional(ArgumentParsing) }

    let kind: Kind
    let longNames: [String]
    let shortNames: [Character]
    let help: ArgumentHelp
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

    init(kind: Kind, names: NameSpecification, label: String, help: ArgumentHelp, group: String?, repeats: Bool, required: Bool, take: @escaping (String, Bool) -> Bool) {
        self.kind = kind
        self.longNames = names.longNames(label: label)
        self.shortNames = names.shortNames(label: label)
        self.help = help
        self.valueName = kebabCase(label)
        self.group = group
        self.repeats = repeats
        self.required = required
        self.take = take
    }
}

/// `capAdd` → `cap-add`, `noStdin` → `no-stdin`, `tlsCACert` → `tls-ca-cert`.
func kebabCase(_ label: String) -> String {
    // Over the bytes (ASCII, as property names here are): Character's Unicode properties
    // cost a run a tenth of a millisecond for its forty names.
    let b = Array(label.utf8)
    let upper = { (c: UInt8) in c >= 65 && c <= 90 }
    let lower = { (c: UInt8) in c >= 97 && c <= 122 }
    let digit = { (c: UInt8) in c >= 48 && c <= 57 }
    var out: [UInt8] = []
    out.reserveCapacity(b.count + 4)
    for i in b.indices {
        let c = b[i]
        if upper(c) {
            if i > 0 {
                let prev = b[i - 1]
                let nextLower = i + 1 < b.count && lower(b[i + 1])
                if lower(prev) || digit(prev) || (upper(prev) && nextLower) { out.append(UInt8(ascii: "-")) }
            }
            out.append(c + 32)
        } else {
            out.append(c)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// `--name VALUE` (and `--name=VALUE`, `-n VALUE`, `-nVALUE`). An array option takes
/// one value per use.
@propertyWrapper
public struct Option<Value>: Declared {
    let storage: Storage<Value>
    let names: NameSpecification
    let help: ArgumentHelp
    let required: Bool
    let repeats: Bool
    let convert: (Value?, String, Bool) -> Value?

    public var wrappedValue: Value {
        get { storage.wrapped }
        nonmutating set { storage.value = newValue }
    }

    func slots(label: String, group: String?) -> [Slot] {
        let storage = self.storage, convert = self.convert
        return [Slot(kind: .option, names: names, label: label, help: help, group: group, repeats: repeats, required: required) { word, first in
            guard let v = convert(storage.value, word, first) else { return false }
            storage.value = v
            return true
        }]
    }
}

extension Option where Value: ExpressibleByArgument {
    public init(wrappedValue: Value, name: NameSpecification = .long, help: ArgumentHelp = "") {
        self.init(storage: Storage(wrappedValue), names: name, help: help, required: false, repeats: false) { _, word, _ in Value(argument: word) }
    }

    public init(name: NameSpecification = .long, help: ArgumentHelp = "") {
        self.init(storage: Storage(nil), names: name, help: help, required: true, repeats: false) { _, word, _ in Value(argument: word) }
    }
}

extension Option {
    public init<T: ExpressibleByArgument>(name: NameSpecification = .long, help: ArgumentHelp = "") where Value == T? {
        self.init(storage: Storage(.some(nil)), names: name, help: help, required: false, repeats: false) { _, word, _ in T(argument: word).map { .some($0) } }
    }

    public init<T: ExpressibleByArgument>(wrappedValue: [T] = [], name: NameSpecification = .long, help: ArgumentHelp = "") where Value == [T] {
        self.init(storage: Storage(wrappedValue), names: name, help: help, required: false, repeats: true) { old, word, first in
            // The first use replaces a default; later ones add to it.
            T(argument: word).map { (first ? [] : old ?? []) + [$0] }
        }
    }
}

/// `--name` sets it, `--name=false` clears it (a default of true is turned off so).
@propertyWrapper
public struct Flag: Declared {
    let storage: Storage<Bool>
    let names: NameSpecification
    let help: ArgumentHelp

    public init(wrappedValue: Bool, name: NameSpecification = .long, help: ArgumentHelp = "") {
        storage = Storage(wrappedValue)
        names = name
        self.help = help
    }

    public var wrappedValue: Bool {
        get { storage.wrapped }
        nonmutating set { storage.value = newValue }
    }

    func slots(label: String, group: String?) -> [Slot] {
        let storage = self.storage
        return [Slot(kind: .flag, names: names, label: label, help: help, group: group, repeats: false, required: false) { word, _ in
            guard let v = Bool(argument: word) else { return false }
            storage.value = v
            return true
        }]
    }
}

/// A positional argument. An array takes the rest; without a default it needs one or more.
@propertyWrapper
public struct Argument<Value>: Declared {
    let storage: Storage<Value>
    let parsing: ArgumentParsing
    let help: ArgumentHelp
    let required: Bool
    let repeats: Bool
    let convert: (Value?, String, Bool) -> Value?

    public var wrappedValue: Value {
        get { storage.wrapped }
        nonmutating set { storage.value = newValue }
    }

    func slots(label: String, group: String?) -> [Slot] {
        let storage = self.storage, convert = self.convert
        return [Slot(kind: .positional(parsing), names: [], label: label, help: help, group: group, repeats: repeats, required: required) { word, first in
            guard let v = convert(storage.value, word, first) else { return false }
            storage.value = v
            return true
        }]
    }
}

extension Argument where Value: ExpressibleByArgument {
    public init(help: ArgumentHelp = "") {
        self.init(storage: Storage(nil), parsing: .remaining, help: help, required: true, repeats: false) { _, word, _ in Value(argument: word) }
    }

    public init(wrappedValue: Value, help: ArgumentHelp = "") {
        self.init(storage: Storage(wrappedValue), parsing: .remaining, help: help, required: false, repeats: false) { _, word, _ in Value(argument: word) }
    }
}

extension Argument {
    public init<T: ExpressibleByArgument>(help: ArgumentHelp = "") where Value == T? {
        self.init(storage: Storage(.some(nil)), parsing: .remaining, help: help, required: false, repeats: false) { _, word, _ in T(argument: word).map { .some($0) } }
    }

    public init<T: ExpressibleByArgument>(wrappedValue: [T], parsing: ArgumentParsing = .remaining, help: ArgumentHelp = "") where Value == [T] {
        self.init(storage: Storage(wrappedValue), parsing: parsing, help: help, required: false, repeats: true) { old, word, first in
            T(argument: word).map { (first ? [] : old ?? []) + [$0] }
        }
    }

    public init<T: ExpressibleByArgument>(parsing: ArgumentParsing = .remaining, help: ArgumentHelp = "") where Value == [T] {
        self.init(storage: Storage([]), parsing: parsing, help: help, required: true, repeats: true) { old, word, first in
            T(argument: word).map { (first ? [] : old ?? []) + [$0] }
        }
    }
}

/// Options declared in a type of their own and shared by several commands; `title`
/// heads them in `--help`.
@propertyWrapper
public struct OptionGroup<Value: ParsableArguments>: Declared {
    public var wrappedValue: Value
    let title: String?

    public init(title: String? = nil) {
        wrappedValue = Value()
        self.title = title
    }

    func slots(label: String, group: String?) -> [Slot] {
        collectSlots(wrappedValue, group: title ?? group)
    }
}

/// The slots of every wrapped property of `value`, in declaration order.
func collectSlots(_ value: Any, group: String?) -> [Slot] {
    var slots: [Slot] = []
    for child in Mirror(reflecting: value).children {
        guard let declared = child.value as? any Declared, var label = child.label else { continue }
        if label.hasPrefix("_") { label.removeFirst() }
        slots += declared.slots(label: label, group: group)
    }
    return slots
}
