/// Where a piece of an imported file came from: the file as it was named (after include
/// resolution) and its 1-based line.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { "\(file):\(line)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.file, lhs.line) < (rhs.file, rhs.line)
    }
}

/// One thing an importer has to tell the operator: a setting it could not carry over, a quirk of
/// the source daemon it reproduced on purpose, or a difference between the two routers' files.
/// Each says where (file and line), what, and what the operator can do instead.
public struct ImportFinding: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The setting has no Tandem equivalent and is not in the output.
        case notCarriedOver = "not carried over"
        /// The source daemon reads this differently from how it looks; the output does what the
        /// daemon did, not what the text seems to say.
        case quirk
        /// The two routers' files disagree; the output follows the first file.
        case difference
        /// Carried over with a change of meaning or a default worth knowing.
        case note
    }

    public var location: SourceLocation?
    public var kind: Kind
    /// What was found, in one sentence.
    public var message: String
    /// What the operator can do about it; empty when nothing is needed.
    public var advice: String

    public init(_ kind: Kind, at location: SourceLocation?, _ message: String, advice: String = "") {
        self.kind = kind
        self.location = location
        self.message = message
        self.advice = advice
    }

    public var description: String {
        let place = location.map { "\($0): " } ?? ""
        return "\(place)\(kind.rawValue): \(message)\(advice.isEmpty ? "" : ": \(advice)")"
    }
}

/// Input an importer cannot read at all: a file that is missing, braces that do not balance, an
/// include loop. Names the file, the line and the fix.
public struct ImportError: Error, Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation?
    public var message: String

    public init(at location: SourceLocation?, _ message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { (location.map { "\($0): " } ?? "") + message }

    /// An importer produced text Tandem's own parser refuses: a defect of the importer, reported
    /// with the offending output lines so it can be fixed (and the config finished by hand).
    static func invalidOutput(_ error: ConfigError, yaml: String, findings: [ImportFinding]) -> ImportError {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let shown = error.issues.compactMap(\.line).filter { $0 >= 1 && $0 <= lines.count }.map { "  output line \($0): \(lines[$0 - 1])" }
        return ImportError(at: nil, "the imported config is not valid (a defect of the importer; please report it with the input): \(error.description)\n"
            + shown.joined(separator: "\n") + (shown.isEmpty ? "" : "\n") + "The findings so far:\n" + findings.map(\.description).joined(separator: "\n"))
    }
}

/// One line of `--report`: which source line became which Tandem config path.
public struct ImportMapping: Sendable, Hashable {
    public var source: SourceLocation
    public var path: String

    public init(source: SourceLocation, path: String) {
        self.source = source
        self.path = path
    }
}

/// What an import produces: the Tandem config text (YAML, commented), the findings, and the
/// source-to-path table.
public struct ImportResult: Sendable {
    public var yaml: String
    public var findings: [ImportFinding]
    public var mappings: [ImportMapping]

    public init(yaml: String, findings: [ImportFinding], mappings: [ImportMapping]) {
        self.yaml = yaml
        self.findings = findings
        self.mappings = mappings
    }

    /// The mapping table, one `file:line  path` row per mapping, in source order.
    public var reportText: String {
        let rows = mappings.sorted { ($0.source, $0.path) < ($1.source, $1.path) }
        let width = rows.map { $0.source.description.count }.max() ?? 0
        return rows.map { row in
            let s = row.source.description
            return s + String(repeating: " ", count: width - s.count + 2) + row.path
        }.joined(separator: "\n") + (rows.isEmpty ? "" : "\n")
    }
}
