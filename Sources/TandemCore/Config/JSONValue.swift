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
            if items.isEmpty { append("[]"); return }
            bytes.append(UInt8(ascii: "["))
            var first = true
            for item in items {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                newline(level + 1)
                write(item, level: level + 1)
            }
            newline(level)
            bytes.append(UInt8(ascii: "]"))
        case .object(let fields):
            if fields.isEmpty { append("{}"); return }
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (key, item) in fields.sorted(by: { $0.key < $1.key }) {
                if !first { bytes.append(UInt8(ascii: ",")) }
                first = false
                newline(level + 1)
                quote(key)
                bytes.append(UInt8(ascii: ":"))
                if indent { bytes.append(UInt8(ascii: " ")) }
                write(item, level: level + 1)
            }
            newline(level)
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private mutating func append(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func newline(_ level: Int) {
        guard indent else { return }
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
    }

    private mutating func integer(_ n: Int64) {
        bytes.append(contentsOf: String(n).utf8)
    }

    /// A JSON string: `"` and `\` escaped, \n \r \t by name, other controls as \u00xx, every other
    /// character (non-ASCII included) as its own UTF-8.
    mutating func quote(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case UInt8(ascii: "\n"): append("\\n")
            case UInt8(ascii: "\r"): append("\\r")
            case UInt8(ascii: "\t"): append("\\t")
            case 0..<0x20:
                append("\\u00")
                Hex.appendDigits(of: byte, to: &bytes)
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
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
