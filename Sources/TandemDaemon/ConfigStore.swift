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

    /// What a reload did.
    public enum ReloadOutcome: Sendable, Hashable {
        /// The file is unchanged in meaning (same digest).
        case unchanged
        /// The new config is in force.
        case replaced(oldDigest: String, newDigest: String)
        /// The file is invalid; the old config stays in force.
        case rejected(ConfigError)
    }

    /// Loads the initial config; an invalid file is an error (nothing to fall back on yet).
    public init(path: String, load: (String) throws(ConfigError) -> Config = ConfigParser.load(path:)) throws(ConfigError) {
        self.path = path
        self.current = try load(path)
        self.digest = current.digest
    }

    /// Re-reads the file; keeps the current config unless the new one is valid.
    public mutating func reload(load: (String) throws(ConfigError) -> Config = ConfigParser.load(path:)) -> ReloadOutcome {
        let fresh: Config
        do {
            fresh = try load(path)
        } catch {
            return .rejected(error)
        }
        let old = digest, new = fresh.digest
        if old == new { return .unchanged }
        current = fresh
        digest = new
        return .replaced(oldDigest: old, newDigest: new)
    }
}
