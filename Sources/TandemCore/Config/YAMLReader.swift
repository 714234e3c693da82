/// Collects the problems found while reading a config. Cross-checks made after parsing find
/// the line of a path in the document itself (`line(of:)`), so reading records nothing per key.
final class Diagnostics {
    private(set) var issues: [ConfigIssue] = []
    /// The document read: the fields' nodes are indices into it.
    let document: YAMLDocument

    init(document: YAMLDocument) { self.document = document }

    func error(_ path: String, _ line: Int?, _ message: String) {
        issues.append(ConfigIssue(path: path, line: line, message: message))
    }

    /// Errors about a mapping's keys alone (unknown, repeated, not a plain word): the reader
    /// skips the key and builds everything else as written, so the cross-checks can still run
    /// and report in the same pass (`Validator.validate`).
    private(set) var keyErrorCount = 0

    /// An error about a key that the reader skips (see `keyErrorCount`).
    func keyError(_ path: String, _ line: Int?, _ message: String) {
        error(path, line, message)
        keyErrorCount += 1
    }

    /// Whether every error so far is a skipped key's, so the config read is whole apart from them.
    var onlyKeyErrors: Bool { issues.count(where: { $0.severity == .error }) == keyErrorCount }

    func warning(_ path: String, _ line: Int?, _ message: String) {
        issues.append(ConfigIssue(path: path, line: line, message: message, severity: .warning))
    }

    /// The line of `path`, or of its nearest parent that has one: a mapping key's line, or the
    /// first line of a list item that is a mapping (other list items and the lists themselves
    /// take their parent's). Meant for documents read without errors.
    func line(of path: String) -> Int? {
        var p = path
        while true {
            if let l = ownLine(of: p) { return l }
            guard let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) else { return nil }
            p = String(p[..<cut])
        }
    }

    private enum Step { case key(Substring), index(Int) }

    /// `a.b[2].c` as key, key, index, key; nil when it is not such a path.
    private static func steps(_ path: String) -> [Step]? {
        var steps: [Step] = []
        var rest = Substring(path)
        while !rest.isEmpty {
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]"), let n = Int(rest[rest.index(after: rest.startIndex)..<close]) else {
                    return nil
                }
                steps.append(.index(n))
                rest = rest[rest.index(after: close)...]
            } else {
                if rest.first == "." {
                    guard !steps.isEmpty else { return nil }
                    rest = rest.dropFirst()
                }
                let end = rest.firstIndex(where: { $0 == "." || $0 == "[" }) ?? rest.endIndex
                guard end > rest.startIndex else { return nil }
                steps.append(.key(rest[..<end]))
                rest = rest[end...]
            }
        }
        return steps
    }

    /// The line `path` itself has (see `line(of:)`), without looking at its parents.
    private func ownLine(of path: String) -> Int? {
        let doc = document
        var node = doc.root
        if path.isEmpty { return doc.kind(node) == .mapping ? doc.line(node) : nil }
        guard let steps = Diagnostics.steps(path) else { return nil }
        for (i, step) in steps.enumerated() {
            let last = i == steps.count - 1
            switch step {
            case .key(let key):
                guard doc.kind(node) == .mapping else { return nil }
                let pairs = doc.children(of: node)
                guard let k = stride(from: pairs.startIndex, to: pairs.endIndex, by: 2).first(where: {
                    doc.scalar(pairs[$0], is: String(key))
                }) else { return nil }
                if last { return doc.line(pairs[k]) }
                node = pairs[k + 1]
            case .index(let n):
                let items = doc.children(of: node)
                guard doc.kind(node) == .sequence, n >= 0, n < items.count else { return nil }
                node = items[items.startIndex + n]
                if last { return doc.kind(node) == .mapping ? doc.line(node) : nil }
            }
        }
        return nil
    }

    var errors: [ConfigIssue] { issues.filter { $0.severity == .error } }
    var warnings: [ConfigIssue] { issues.filter { $0.severity == .warning } }
}

/// A YAML node together with its path in the document, with strict conversions that report
/// problems to `Diagnostics` and return nil.
struct Field {
    /// The node's index in `diags.document`.
    let node: Int32
    let diags: Diagnostics
    /// The path is `parentPath`, then up to three steps kept unjoined: `outer2`, `outer` (the
    /// step of the mapping or list holding this field in its own parent) and `step` (this
    /// field's key or index). The text is built only when asked for (errors, and once per
    /// collection whose fields would be four steps down: a service's real server list), not for
    /// every value read; a real server's fields, for one, need none.
    private let parentPath: String
    private let outer2: Step
    private let outer: Step
    private let step: Step

    private enum Step {
        case whole, key(StaticString), index(Int)

        /// `path` followed by this step.
        func applied(to path: String) -> String {
            switch self {
            case .whole: return path
            case .key(let key): return Field.join(path, key.description)
            case .index(let i): return path + "[" + String(i) + "]"
            }
        }

        var isWhole: Bool { if case .whole = self { return true } else { return false } }
    }

    init(node: Int32, path: String, diags: Diagnostics) {
        self.node = node
        self.diags = diags
        parentPath = path
        outer2 = .whole
        outer = .whole
        step = .whole
    }

    private init(node: Int32, parentPath: String, outer2: Step, outer: Step, step: Step, diags: Diagnostics) {
        self.node = node
        self.diags = diags
        self.parentPath = parentPath
        self.outer2 = outer2
        self.outer = outer
        self.step = step
    }

    /// What makes the fields inside this one (`child`): itself, or, when it already keeps three
    /// steps, a field of its whole path, built once for all its items.
    fileprivate var parent: Field { outer2.isWhole ? self : Field(node: node, path: path, diags: diags) }

    /// A field inside this one (an item of its list, a value of its mapping) at `step`; call it
    /// on `parent`.
    private func child(_ node: Int32, _ step: Step) -> Field {
        Field(node: node, parentPath: parentPath, outer2: outer, outer: self.step, step: step, diags: diags)
    }

    /// The field of a mapping's value at `key`; call it on `parent`.
    fileprivate func child(_ node: Int32, _ key: StaticString) -> Field { child(node, .key(key)) }

    /// Like `virtual_servers[1].real_servers[0].port`.
    var path: String { step.applied(to: outer.applied(to: outer2.applied(to: parentPath))) }

    var line: Int? { diags.document.line(node) }

    /// Whether the node is a scalar, a list or a mapping.
    var kind: YAMLDocument.Kind { diags.document.kind(node) }

    /// True when the node is a scalar whose text is `text`.
    func isScalar(_ text: StaticString) -> Bool { diags.document.scalar(node, is: text) }

    func fail(_ message: String) { diags.error(path, line, message) }

    /// A warning at this field: `check-config` prints it and still exits 0.
    func warn(_ message: String) { diags.warning(path, line, message) }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The scalar's text; a mapping or list where a value is expected is an error.
    var scalarText: String? {
        guard let s = diags.document.string(node) else {
            fail("expected a single value, found \(kind.name)")
            return nil
        }
        return s
    }

    var isNull: Bool { diags.document.isNull(node) }

    /// The text of the value of the last `key` of a mapping, when that value is a scalar.
    func scalarText(ofLast key: StaticString) -> String? {
        let doc = diags.document
        guard doc.kind(node) == .mapping else { return nil }
        let pairs = doc.children(of: node)
        var found: String?
        for k in stride(from: pairs.startIndex, to: pairs.endIndex, by: 2) where doc.scalar(pairs[k], is: key) {
            found = doc.string(pairs[k + 1])
        }
        return found
    }

    func string(nonEmpty: Bool = true, maxLength: Int = 4096) -> String? {
        guard let s = scalarText else { return nil }
        if nonEmpty && s.isBlank { fail("must not be empty"); return nil }
        // A string has at most as many characters as UTF-8 bytes: count them only when it may be too long.
        if s.utf8.count > maxLength && s.count > maxLength {
            let shown = s.count <= 64 ? s : String(s.prefix(32)) + "…"
            fail("\"\(shown)\" is \(s.count) characters long; at most \(maxLength) are allowed")
            return nil
        }
        return s
    }

    func bool() -> Bool? {
        guard let s = scalarText else { return nil }
        switch s {
        case "true": return true
        case "false": return false
        default: fail("\"\(s)\" is not a boolean: write true or false"); return nil
        }
    }

    /// A decimal integer in `range`; `what` names it in the error ("a valid port").
    func integer(_ range: ClosedRange<Int64>, what: String? = nil) -> Int64? {
        guard let n = quickInteger ?? textInteger else { return nil }
        guard range.contains(n) else {
            if let what { fail("\(n) is not \(what) (\(range.lowerBound)…\(range.upperBound))") }
            else { fail("\(n) is out of range: use \(range.lowerBound)…\(range.upperBound)") }
            return nil
        }
        return n
    }

    /// The value of a scalar whose bytes are `-?[0-9]{1,18}` without a leading zero (what
    /// `textInteger` accepts, read without making a `String`); nil for any other node.
    private var quickInteger: Int64? {
        diags.document.withScalarBytes(node) { b -> Int64? in
            let negative = b.first == UInt8(ascii: "-")
            var i = negative ? 1 : 0
            let digits = b.count - i
            guard digits >= 1, digits <= 18, !(digits > 1 && b[i] == UInt8(ascii: "0")) else { return nil }
            var n: Int64 = 0
            while i < b.count {
                let d = b[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                n = n * 10 + Int64(d)
                i += 1
            }
            return negative ? -n : n
        } ?? nil
    }

    /// A decimal integer read from the scalar's text; a mapping or list, or text that is not a
    /// whole number, is an error.
    private var textInteger: Int64? {
        guard let s = scalarText else { return nil }
        let digits = s.hasPrefix("-") ? s.dropFirst() : Substring(s)
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              !(digits.count > 1 && digits.first == "0"), let n = Int64(s) else {
            fail("\"\(s)\" is not a whole number")
            return nil
        }
        return n
    }

    func int(_ range: ClosedRange<Int>, what: String? = nil) -> Int? {
        integer(Int64(range.lowerBound)...Int64(range.upperBound), what: what).map(Int.init)
    }

    func port(allowZero: Bool = false) -> UInt16? {
        if !allowZero && isScalar("0") { fail("0 is not a valid port (1…65535)"); return nil }
        return integer(allowZero ? 0...65535 : 1...65535, what: "a valid port").map { UInt16($0) }
    }

    func timeSpan(min: TimeSpan? = nil, max: TimeSpan? = nil) -> TimeSpan? {
        guard let s = scalarText else { return nil }
        guard let d = TimeSpan(parsing: s) else {
            fail("\"\(s)\" is not a duration: write a whole number with a unit, like 20ms, 2s, 5m or 1h")
            return nil
        }
        if let min, d < min { fail("\(d) is too short: at least \(min)"); return nil }
        if let max, d > max { fail("\(d) is too long: at most \(max)"); return nil }
        return d
    }

    func address() -> IPAddress? {
        if let v4 = quickIPv4 { return .v4(v4) }
        guard let s = scalarText else { return nil }
        if s.contains("/" as Character) {
            fail("\"\(s)\" has a prefix length; write the address alone here")
            return nil
        }
        guard let a = IPAddress(s) else { fail("\"\(s)\" is not an IPv4 or IPv6 address"); return nil }
        return a
    }

    /// The value of a scalar whose bytes are a dotted quad as `IPAddress` reads it (four parts
    /// of 1-3 digits, each at most 255, no leading zeros), read without making a `String`; nil
    /// for anything else, which `IPAddress` then reads or refuses.
    private var quickIPv4: UInt32? {
        diags.document.withScalarBytes(node) { b -> UInt32? in
            guard b.count >= 7, b.count <= 15 else { return nil }
            var value: UInt32 = 0, part: UInt32 = 0, digits = 0, parts = 0, first: UInt8 = 0
            for byte in b {
                if byte == UInt8(ascii: ".") {
                    guard digits > 0, parts < 3 else { return nil }
                    value = value << 8 | part
                    parts += 1
                    part = 0
                    digits = 0
                    continue
                }
                let d = byte &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                if digits == 0 { first = d }
                digits += 1
                part = part * 10 + UInt32(d)
                guard digits <= 3, part <= 255, !(digits > 1 && first == 0) else { return nil }
            }
            guard digits > 0, parts == 3 else { return nil }
            return value << 8 | part
        } ?? nil
    }

    func prefix() -> IPPrefix? {
        guard let s = scalarText else { return nil }
        guard s.contains("/" as Character) else {
            fail("\"\(s)\" needs a prefix length, like 192.0.2.10/24 or 2001:db8::10/64")
            return nil
        }
        guard let p = IPPrefix(s) else {
            fail("\"\(s)\" is not an address with a valid prefix length (IPv4 /0…/32, IPv6 /0…/128)")
            return nil
        }
        return p
    }

    /// One of a fixed set of words.
    func choice<T>(_ options: [(String, T)]) -> T? {
        guard let s = scalarText else { return nil }
        if let hit = options.first(where: { $0.0 == s }) { return hit.1 }
        fail("\"\(s)\" is not one of: \(options.map(\.0).joined(separator: ", "))")
        return nil
    }

    /// The items of a list.
    func list() -> [Field]? {
        guard kind == .sequence else {
            fail("expected a list, found \(kind.name)")
            return nil
        }
        let seq = diags.document.children(of: node)
        let parent = self.parent
        var items: [Field] = []
        items.reserveCapacity(seq.count)
        for (i, item) in seq.enumerated() { items.append(parent.child(item, .index(i))) }
        return items
    }

    /// A mapping restricted to `allowed` keys; unknown and repeated keys are reported.
    ///
    /// Keys are compared as bytes with the allowed words, without making a `String` of each.
    func mapping(allowed: [StaticString]) -> MapView? {
        guard kind == .mapping else {
            fail("expected a mapping of keys to values, found \(kind.name)")
            return nil
        }
        let doc = diags.document
        let pairs = doc.children(of: node)
        var values: [(key: StaticString, node: Int32)] = []
        values.reserveCapacity(pairs.count / 2)
        for k in stride(from: pairs.startIndex, to: pairs.endIndex, by: 2) {
            let keyNode = pairs[k], valueNode = pairs[k + 1]
            guard doc.kind(keyNode) == .scalar else {
                diags.keyError(path, doc.line(keyNode), "keys must be plain words, found \(doc.kind(keyNode).name)")
                continue
            }
            guard let key = allowed.first(where: { doc.scalar(keyNode, is: $0) }) else {
                let key = doc.string(keyNode) ?? ""
                let words = allowed.map(\.description)
                var message = "unknown key"
                if key == "<<" {
                    message = "YAML merge keys (<<) are not supported: write the keys out (a plain alias, *name, may stand for a whole value)"
                } else if let near = Field.nearest(key, in: words) { message += "; did you mean \"\(near)\"?" }
                else { message += "; allowed here: \(words.joined(separator: ", "))" }
                diags.keyError(Field.join(path, key), doc.line(keyNode), message)
                continue
            }
            if values.contains(where: { MapView.same($0.key, key) }) {
                diags.keyError(Field.join(path, key.description), doc.line(keyNode), "appears twice; keep one")
                continue
            }
            values.append((key, valueNode))
        }
        return MapView(field: self, parent: parent, values: values)
    }

    /// The closest allowed word to a misspelt key, if it is close enough to be a typo.
    static func nearest(_ word: String, in candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var prev = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var cur = [i] + Array(repeating: 0, count: b.count)
                for j in 1...max(b.count, 1) where !b.isEmpty {
                    cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                }
                prev = cur
            }
            return prev[b.count]
        }
        let w = Array(word)
        let scored = candidates.map { ($0, distance(w, Array($0))) }.min { $0.1 < $1.1 }
        guard let best = scored, best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }
}

/// The keys of one YAML mapping, already checked against the allowed set.
struct MapView {
    let field: Field
    /// What makes the fields of the values (`Field.parent` of `field`).
    fileprivate let parent: Field
    /// The allowed keys present, in file order, each once, with their value's node (a mapping
    /// has a handful: a linear search beats hashing).
    fileprivate let values: [(key: StaticString, node: Int32)]

    subscript(key: StaticString) -> Field? {
        guard let node = values.first(where: { MapView.same($0.key, key) })?.node,
              !field.diags.document.isNull(node) else { return nil }
        return parent.child(node, key)
    }

    /// The same text (usually the same literal, so the same address).
    static func same(_ a: StaticString, _ b: StaticString) -> Bool {
        a.withUTF8Buffer { a in
            b.withUTF8Buffer { b in
                a.count == b.count && (a.baseAddress == b.baseAddress || a.elementsEqual(b))
            }
        }
    }

    /// A key that must be present; its absence is reported at the mapping's line.
    func required(_ key: StaticString, hint: String? = nil) -> Field? {
        if let f = self[key] { return f }
        var message = "missing required key \"\(key)\""
        if let hint { message += ": \(hint)" }
        field.diags.error(field.path, field.line, message)
        return nil
    }

    func has(_ key: StaticString) -> Bool { self[key] != nil }
}

extension String {
    /// Empty or whitespace only (Unicode White_Space, as `Character.isWhitespace`); a first
    /// byte that is printable ASCII answers without Unicode property lookups.
    var isBlank: Bool {
        if let b = utf8.first, b > 0x20, b < 0x80 { return false }
        return allSatisfy(\.isWhitespace)
    }
}
