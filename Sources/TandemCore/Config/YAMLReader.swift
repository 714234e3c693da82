import Yams

/// Yams' node, named apart from the config's `Node` (a router).
typealias YAMLNode = Yams.Node

/// Collects the problems found while reading a config. Cross-checks made after parsing find
/// the line of a path in the document itself (`line(of:)`), so reading records nothing per key.
final class Diagnostics {
    private(set) var issues: [ConfigIssue] = []
    /// The document read, for `line(of:)`.
    var root: YAMLNode?

    init(root: YAMLNode? = nil) { self.root = root }

    func error(_ path: String, _ line: Int?, _ message: String) {
        issues.append(ConfigIssue(path: path, line: line, message: message))
    }

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
        guard let root else { return nil }
        if path.isEmpty {
            if case .mapping = root { return root.mark?.line }
            return nil
        }
        guard let steps = Diagnostics.steps(path) else { return nil }
        var node = root
        for (i, step) in steps.enumerated() {
            let last = i == steps.count - 1
            switch step {
            case .key(let key):
                guard case .mapping(let map) = node,
                      let pair = map.first(where: { if case .scalar(let k) = $0.key { return k.string == key } else { return false } })
                else { return nil }
                if last { return pair.key.mark?.line ?? pair.value.mark?.line }
                node = pair.value
            case .index(let n):
                guard case .sequence(let seq) = node, n >= 0, n < seq.count else { return nil }
                node = seq[n]
                if last {
                    if case .mapping = node { return node.mark?.line }
                    return nil
                }
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
    let node: YAMLNode
    let diags: Diagnostics
    /// The path of the mapping or list holding this field ("" at the top) and the field's key or
    /// index in it: the path text is built only when asked for (errors, and once per mapping or
    /// list whose items need it), not for every value read.
    private let parentPath: String
    private let step: Step

    private enum Step { case whole, key(String), index(Int) }

    init(node: YAMLNode, path: String, diags: Diagnostics) {
        self.node = node
        self.diags = diags
        parentPath = path
        step = .whole
    }

    private init(node: YAMLNode, parentPath: String, step: Step, diags: Diagnostics) {
        self.node = node
        self.diags = diags
        self.parentPath = parentPath
        self.step = step
    }

    /// Like `virtual_servers[1].real_servers[0].port`.
    var path: String {
        switch step {
        case .whole: return parentPath
        case .key(let key): return Field.join(parentPath, key)
        case .index(let i): return parentPath + "[" + String(i) + "]"
        }
    }

    var line: Int? { node.mark?.line }

    func fail(_ message: String) { diags.error(path, line, message) }

    /// A warning at this field: `check-config` prints it and still exits 0.
    func warn(_ message: String) { diags.warning(path, line, message) }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    /// The scalar's text; a mapping or list where a value is expected is an error.
    var scalarText: String? {
        guard case .scalar(let s) = node else {
            fail("expected a single value, found \(node.kindName)")
            return nil
        }
        return s.string
    }

    var isNull: Bool {
        if case .scalar(let s) = node, s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) { return true }
        return false
    }

    func string(nonEmpty: Bool = true, maxLength: Int = 4096) -> String? {
        guard let s = scalarText else { return nil }
        if nonEmpty && s.trimmingWhitespace.isEmpty { fail("must not be empty"); return nil }
        if s.count > maxLength { fail("is \(s.count) characters long; at most \(maxLength) are allowed"); return nil }
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
        guard let s = scalarText else { return nil }
        let digits = s.hasPrefix("-") ? s.dropFirst() : Substring(s)
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              !(digits.count > 1 && digits.first == "0"), let n = Int64(s) else {
            fail("\"\(s)\" is not a whole number")
            return nil
        }
        guard range.contains(n) else {
            if let what { fail("\(n) is not \(what) (\(range.lowerBound)…\(range.upperBound))") }
            else { fail("\(n) is out of range: use \(range.lowerBound)…\(range.upperBound)") }
            return nil
        }
        return n
    }

    func int(_ range: ClosedRange<Int>, what: String? = nil) -> Int? {
        integer(Int64(range.lowerBound)...Int64(range.upperBound), what: what).map(Int.init)
    }

    func port(allowZero: Bool = false) -> UInt16? {
        guard let s = scalarText else { return nil }
        if s == "0" && !allowZero { fail("0 is not a valid port (1…65535)"); return nil }
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
        guard let s = scalarText else { return nil }
        if s.contains("/" as Character) {
            fail("\"\(s)\" has a prefix length; write the address alone here")
            return nil
        }
        guard let a = IPAddress(s) else { fail("\"\(s)\" is not an IPv4 or IPv6 address"); return nil }
        return a
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
        guard case .sequence(let seq) = node else {
            fail("expected a list, found \(node.kindName)")
            return nil
        }
        let base = path
        var items: [Field] = []
        items.reserveCapacity(seq.count)
        for (i, item) in seq.enumerated() { items.append(Field(node: item, parentPath: base, step: .index(i), diags: diags)) }
        return items
    }

    /// A mapping restricted to `allowed` keys; unknown and repeated keys are reported.
    func mapping(allowed: [String]) -> MapView? {
        guard case .mapping(let map) = node else {
            fail("expected a mapping of keys to values, found \(node.kindName)")
            return nil
        }
        let base = path
        var values: [(key: String, field: Field)] = []
        values.reserveCapacity(map.count)
        for (keyNode, valueNode) in map {
            guard case .scalar(let k) = keyNode else {
                diags.error(base, keyNode.mark?.line, "keys must be plain words, found \(keyNode.kindName)")
                continue
            }
            let key = k.string
            if !allowed.contains(key) {
                var message = "unknown key"
                if let near = Field.nearest(key, in: allowed) { message += "; did you mean \"\(near)\"?" }
                else { message += "; allowed here: \(allowed.joined(separator: ", "))" }
                diags.error(Field.join(base, key), keyNode.mark?.line, message)
                continue
            }
            if values.contains(where: { $0.key == key }) {
                diags.error(Field.join(base, key), keyNode.mark?.line, "appears twice; keep one")
                continue
            }
            values.append((key, Field(node: valueNode, parentPath: base, step: .key(key), diags: diags)))
        }
        return MapView(field: self, values: values)
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
    /// The allowed keys present, in file order, each once (a mapping has a handful: a linear
    /// search beats hashing).
    let values: [(key: String, field: Field)]

    subscript(key: String) -> Field? {
        guard let f = values.first(where: { $0.key == key })?.field, !f.isNull else { return nil }
        return f
    }

    /// A key that must be present; its absence is reported at the mapping's line.
    func required(_ key: String, hint: String? = nil) -> Field? {
        if let f = self[key] { return f }
        var message = "missing required key \"\(key)\""
        if let hint { message += ": \(hint)" }
        field.diags.error(field.path, field.line, message)
        return nil
    }

    func has(_ key: String) -> Bool { self[key] != nil }
}

extension YAMLNode {
    var kindName: String {
        switch self {
        case .scalar: return "a single value"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }
}

extension String {
    var trimmingWhitespace: Substring {
        let s = self.drop { $0.isWhitespace }
        return s.dropLast(s.reversed().prefix { $0.isWhitespace }.count)
    }
}
