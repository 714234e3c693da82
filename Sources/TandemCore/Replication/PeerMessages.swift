#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A request on an established peer connection. JSON-encoded, sealed by `PeerSession`.
///
/// To add a request: add a case here and handle it in the daemon's `PeerRequestHandler`
/// (the switch is exhaustive, so the compiler points there). A peer that does not know a case
/// answers `.failure("unsupported request ...")` instead of closing.
public enum PeerRequest: Codable, Sendable, Hashable {
    /// The config in force: its file text, serial and digest.
    case fetchConfig
    /// The operator's drained real servers on the sender, to be mirrored (newer generation wins).
    case drains(DrainList)
    /// The fingerprints of the heartbeat keys the peer holds now: a reload that changes this
    /// node's signing key asks first, since key bytes never travel (trial 34: a next key written
    /// separately on each node made both routers active at the key change).
    case keyFingerprints
}

/// What the peer said of its heartbeat keys when asked (`PeerRequest.keyFingerprints`).
public enum PeerKeysAnswer: Sendable, Hashable {
    case known(KeyFingerprints)
    /// It could not be asked or did not say; the text says why.
    case unknown(String)
}

/// The heartbeat keys a node holds, as `HeartbeatKey.fingerprint`s ("sha256:" and 12 hex digits).
public struct KeyFingerprints: Codable, Sendable, Hashable {
    public var current: String
    public var next: String?

    public init(current: String, next: String?) {
        self.current = current
        self.next = next
    }
}

/// The drained real servers of one node, with when the list last changed.
public struct DrainList: Codable, Sendable, Hashable {
    /// Wall-clock nanoseconds of the last change: the newer list wins on both nodes.
    public var generation: UInt64
    /// `SERVICE ADDRESS PORT`, one per drained real server, sorted.
    public var entries: [String]

    public init(generation: UInt64, entries: [String]) {
        self.generation = generation
        self.entries = entries
    }
}

/// The answer to one `PeerRequest`.
public enum PeerResponse: Codable, Sendable, Hashable {
    case config(ConfigSnapshot)
    /// The request was carried out; the text says what happened.
    case accepted(String)
    /// The request could not be served; the text says why.
    case failure(String)
    /// The answer to `keyFingerprints`.
    case keys(KeyFingerprints)
}

/// A config as served to the peer: the file's exact text and what it parses to.
public struct ConfigSnapshot: Codable, Sendable, Hashable {
    public var text: String
    public var serial: UInt64
    /// Lower-case hex SHA-256 of the canonical form (`Config.digest`).
    public var digest: String

    public init(text: String, serial: UInt64, digest: String) {
        self.text = text
        self.serial = serial
        self.digest = digest
    }
}

/// JSON encoding of peer messages: compact, keys sorted, so the bytes are stable (tested as
/// golden bytes).
public enum PeerMessageCoding {
    public static func encode<Message: Encodable>(_ message: Message) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these value types cannot fail (no floats, no custom encoders).
        return Array((try? encoder.encode(message)) ?? Data())
    }

    public static func decode<Message: Decodable>(_ type: Message.Type, from bytes: [UInt8]) throws(PeerProtocolError) -> Message {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw .malformed("cannot decode \(Message.self): \(error)")
        }
    }
}
