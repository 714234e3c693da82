/// One problem found in a config file: where (a path like
/// `virtual_servers[1].real_servers[0].port` and a line), what is wrong and what to do.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    /// An error makes the config invalid; a warning is worth reading but does not.
    public enum Severity: String, Sendable, Hashable { case error, warning }

    public var path: String
    public var line: Int?
    public var message: String
    public var severity: Severity

    public init(path: String, line: Int?, message: String, severity: Severity = .error) {
        self.path = path
        self.line = line
        self.message = message
        self.severity = severity
    }

    /// `virtual_servers[1].real_servers[0].port: 0 is not a valid port (line 41)`.
    public var description: String {
        let location = path.isEmpty ? "(top level)" : path
        let suffix = line.map { " (line \($0))" } ?? ""
        return "\(location): \(message)\(suffix)"
    }
}

/// A config that could not be read or is not valid, with every problem found.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file, when the config came from one.
    public var file: String?
    /// Every error (never empty), in file order.
    public var issues: [ConfigIssue]

    public init(file: String? = nil, issues: [ConfigIssue]) {
        self.file = file
        self.issues = issues
    }

    /// One issue per line, prefixed with the file name when known.
    public var description: String {
        issues.map { issue in
            guard let file else { return issue.description }
            return issue.path.isEmpty ? "\(file): \(issue.message)\(issue.line.map { " (line \($0))" } ?? "")" : "\(file): \(issue)"
        }.joined(separator: "\n")
    }
}
