#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TandemCore

/// Holds the config the daemon runs on. A reload replaces it only with a valid config: a bad
/// file is reported and the running config stays, so a typo never takes a router down.
public struct ConfigStore: Sendable {
    /// Where the config is read from.
    public let path: String
    /// The config in force.
    public private(set) var current: Config
    /// `current.digest`, computed once per load (it hashes the canonical form, which for a
    /// 10,000-service config is too slow to redo on every status or replication poll).
    public private(set) var digest: String
    /// The exact text `current` was parsed from (nil when a custom loader read it): what config
    /// replication serves, so it never re-reads a file that may hold an unreloaded edit.
    public private(set) var text: String?
    /// A config replication has already parsed and validated, with its text and digest: a reload
    /// that reads exactly this text takes it without parsing again.
    private var staged: (text: String, config: Config, digest: String)?

    /// What a reload did.
    public enum ReloadOutcome: Sendable, Hashable {
        /// The file is unchanged in meaning (same digest).
        case unchanged
        /// The new config is in force.
        case replaced(oldDigest: String, newDigest: String)
        /// The file is invalid; the old config stays in force.
        case rejected(ConfigError)
    }

    /// Loads the initial config from `path`; an invalid file is an error (nothing to fall back on yet).
    public init(path: String) throws(ConfigError) {
        self.path = path
        let (config, text) = try Self.read(path)
        current = config
        digest = config.digest
        self.text = text
    }

    /// Loads the initial config with `load` (tests).
    public init(path: String, load: (String) throws(ConfigError) -> Config) throws(ConfigError) {
        self.path = path
        self.current = try load(path)
        self.digest = current.digest
    }

    /// A config read and validated from the file, not yet in force.
    public struct Prepared: Sendable {
        public let config: Config
        public let text: String
        public let digest: String
        /// What `check-config` warns about in it ("path: message"); empty for a config replication staged.
        public var warnings: [String] = []
    }

    /// Reads and validates the file (or takes what replication staged for exactly its text);
    /// changes nothing. `commit` puts the result in force. A config that switches between a pair
    /// and a cluster (`cluster:`) is refused: the two modes run different parts of the daemon,
    /// so only a restart can switch.
    public func prepareReload() -> Result<Prepared, ConfigError> {
        do {
            let data = try Self.readData(path)
            let prepared: Prepared
            if let staged, data == Data(staged.text.utf8) {
                prepared = Prepared(config: staged.config, text: staged.text, digest: staged.digest)
            } else {
                let (fresh, text, warnings) = try Self.parse(data, path: path)
                prepared = Prepared(config: fresh, text: text, digest: fresh.digest, warnings: warnings.map(\.description))
            }
            if prepared.config.isCluster != current.isCluster {
                let change = current.isCluster ? "from a cluster to a pair" : "from a pair to a cluster"
                return .failure(ConfigError(file: path, issues: [ConfigIssue(path: "cluster", line: nil, message:
                    "switches this node \(change): a reload cannot change the mode; restart tandemd to switch (the running config stays)")]))
            }
            return .success(prepared)
        } catch {
            return .failure(error)
        }
    }

    /// Puts a prepared config in force (its text is what replication serves from now on).
    public mutating func commit(_ prepared: Prepared) -> ReloadOutcome {
        staged = nil
        return replace(with: prepared.config, text: prepared.text, digest: prepared.digest)
    }

    /// Re-reads the file; keeps the current config unless the new one is valid.
    public mutating func reload() -> ReloadOutcome {
        switch prepareReload() {
        case .failure(let error): return .rejected(error)
        case .success(let prepared): return commit(prepared)
        }
    }

    /// Records a config parsed and validated from `text` (which is about to be written to the
    /// file), so the next `reload()` that reads exactly `text` need not parse it again.
    public mutating func stage(text: String, config: Config, digest: String) {
        staged = (text, config, digest)
    }

    private mutating func replace(with fresh: Config, text freshText: String?, digest new: String) -> ReloadOutcome {
        let old = digest
        text = freshText
        if old == new { return .unchanged }
        current = fresh
        digest = new
        return .replaced(oldDigest: old, newDigest: new)
    }

    /// `ConfigParser.load(path:)`, also returning the text parsed.
    static func read(_ path: String) throws(ConfigError) -> (Config, String) {
        let (config, text, _) = try parse(try readData(path), path: path)
        return (config, text)
    }

    static func readData(_ path: String) throws(ConfigError) -> Data {
        // The parser's own checks give the messages for a missing, unreadable or oversized file.
        guard let data = FileManager.default.contents(atPath: path) else {
            _ = try ConfigParser.load(path: path)
            throw ConfigError(file: path, issues: [ConfigIssue(path: "", line: nil, message: "cannot be read: check its permissions")])
        }
        return data
    }

    static func parse(_ data: Data, path: String) throws(ConfigError) -> (Config, String, [ConfigIssue]) {
        do {
            let result = try ConfigParser.parseWithWarnings(data: data)
            return (result.config, String(decoding: data, as: UTF8.self), result.warnings)
        } catch {
            throw ConfigError(file: path, issues: error.issues)
        }
    }
}
