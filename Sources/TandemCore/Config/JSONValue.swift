/// A JSON value with one deterministic text form: object keys sorted, no insignificant spaces,
/// integers exact. Used for the config's canonical form (whose SHA-256 is the config digest) and
/// for `--json` output.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Compact text with sorted keys.
    public var compactText: String { String(decoding: compactUTF8, as: UTF8.self) }

    /// Indented text with sorted keys, for people.
    public var prettyText: String {
        var out = JSONWriter(indent: true)
        out.write(self, level: 0)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// The UTF-8 bytes of `compactText`, built in one buffer (what the config digest hashes).
    public var compactUTF8: [UInt8] {
        var out = JSONWriter(indent: false)
        out.write(self, level: 0)
        return out.bytes
    }

    /// A rough size of the compact text, to reserve the buffer once.
    var estimatedSize: Int {
        switch self {
        case .null, .bool, .int: return 8
        case .string(let s): return s.utf8.count + 2
        case .array(let items): return items.count * (items.first?.estimatedSize ?? 0) + 2
        case .object(let fields): return fields.reduce(2) { $0 + $1.key.utf8.count + 4 + $1.value.estimatedSize }
        }
    }
}

/// Renders a `JSONValue` into one UTF-8 buffer: object keys in `String` order, two-space
/// indentation when `indent` is set.
struct JSONWriter {
    let indent: Bool
    var bytes: [UInt8] = []

    init(indent: Bool) { self.indent = indent }

    mutating func write(_ value: JSONValue, level: Int) {
        if level == 0 { bytes.reserveCapacity(value.estimatedSize + (indent ? value.estimatedSize : 0)) }
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .int(let n): integer(n)
        case .string(let s): quote(s)
        case .array(let items):
            writeArray(items, level: level) { out, item, level in out.write(item, level: level) }
        case .object(let fields):
            writeObject(sorted: fields.sorted(by: { $0.key < $1.key }), level: level)
        }
    }

    /// An object whose `fields` are already in key order.
    private mutating func writeObject(sorted fields: [(key: String, value: JSONValue)], level: Int) {
        if fields.isEmpty { append("{}"); return }
        bytes.append(UInt8(ascii: "{"))
        var first = true
        for (key, item) in fields {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            member(key, level: level)
            write(item, level: level + 1)
        }
        newline(level)
        bytes.append(UInt8(ascii: "}"))
    }

    /// The object of `fields` and one more key, `extra`, whose value `writeExtra` writes (at the
    /// level it is given): as `write(.object(fields + [extra: value]))` would.
    mutating func writeObject(_ fields: [String: JSONValue], level: Int, plus extra: String,
                              _ writeExtra: (inout JSONWriter, Int) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        var first = true
        var extraWritten = false
        func writeExtraMember(_ out: inout JSONWriter) {
            out.member(extra, level: level)
            writeExtra(&out, level + 1)
            extraWritten = true
        }
        for (key, item) in fields.sorted(by: { $0.key < $1.key }) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            if !extraWritten && extra < key {
                writeExtraMember(&self)
                bytes.append(UInt8(ascii: ","))
            }
            member(key, level: level)
            write(item, level: level + 1)
        }
        if !extraWritten {
            if !first { bytes.append(UInt8(ascii: ",")) }
            writeExtraMember(&self)
        }
        newline(level)
        bytes.append(UInt8(ascii: "}"))
    }

    /// An array of `items`, each written by `writeItem` (at the level it is given).
    mutating func writeArray<T>(_ items: [T], level: Int, _ writeItem: (inout JSONWriter, T, Int) -> Void) {
        if items.isEmpty { append("[]"); return }
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            newline(level + 1)
            writeItem(&self, item, level + 1)
        }
        newline(level)
        bytes.append(UInt8(ascii: "]"))
    }

    /// An object member's start: its key and colon, on a new line when indenting.
    private mutating func member(_ key: String, level: Int) {
        newline(level + 1)
        quote(key)
        bytes.append(UInt8(ascii: ":"))
        if indent { bytes.append(UInt8(ascii: " ")) }
    }

    /// Appends literal JSON text.
    mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func newline(_ level: Int) {
        guard indent else { return }
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
    }

    mutating func integer(_ n: Int64) {
        if n < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = n.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = digits.count
            repeat {
                i -= 1
                digits[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }

    /// A JSON string: `"` and `\` escaped, \n \r \t by name, other controls as \u00xx, every other
    /// character (non-ASCII included) as its own UTF-8.
    mutating func quote(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Runs of bytes that need no escape are copied whole.
        let copied: Void? = s.utf8.withContiguousStorageIfAvailable { utf8 in
            var run = 0
            for i in utf8.indices where JSONWriter.needsEscape(utf8[i]) {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run..<i]))
                escape(utf8[i])
                run = i + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[run...]))
        }
        if copied == nil {
            for byte in s.utf8 {
                if JSONWriter.needsEscape(byte) { escape(byte) } else { bytes.append(byte) }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The JSON string of an address's text (`description`), IPv4 written without making it.
    mutating func quote(_ address: IPAddress) {
        guard case .v4(let v) = address else { return quote(address.description) }
        bytes.append(UInt8(ascii: "\""))
        integer(Int64(v >> 24))
        bytes.append(UInt8(ascii: "."))
        integer(Int64((v >> 16) & 0xFF))
        bytes.append(UInt8(ascii: "."))
        integer(Int64((v >> 8) & 0xFF))
        bytes.append(UInt8(ascii: "."))
        integer(Int64(v & 0xFF))
        bytes.append(UInt8(ascii: "\""))
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    private mutating func escape(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): append("\\\"")
        case UInt8(ascii: "\\"): append("\\\\")
        case UInt8(ascii: "\n"): append("\\n")
        case UInt8(ascii: "\r"): append("\\r")
        case UInt8(ascii: "\t"): append("\\t")
        default:
            append("\\u00")
            Hex.appendDigits(of: byte, to: &bytes)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
