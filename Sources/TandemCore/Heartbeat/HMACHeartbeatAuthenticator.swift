import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The shared secret that authenticates heartbeats, as read from the key file.
///
/// The key is the file's bytes, used as they are (not hex- or base64-decoded), less one trailing
/// newline (`\n` or `\r\n`) so `echo`-written files work. It must hold at least 16 bytes; a
/// random 32-byte key is the suggestion: `head -c 32 /dev/urandom > /etc/tandem/heartbeat.key`.
public struct HeartbeatKey: Sendable {
    public static let minimumLength = 16
    /// Longer files are almost certainly the wrong file (a certificate, a config).
    public static let maximumLength = 4096

    let key: SymmetricKey
    /// Length of the key in bytes, for status output (never the key itself).
    public let byteCount: Int

    /// Builds the key from the bytes of the key file at `path` (the path only names the file in errors).
    public init(fileContents: Data, path: String) throws(HeartbeatKeyError) {
        var bytes = [UInt8](fileContents)
        if bytes.last == UInt8(ascii: "\n") {
            bytes.removeLast()
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        }
        guard bytes.count >= HeartbeatKey.minimumLength else { throw .tooShort(path: path, length: bytes.count) }
        guard bytes.count <= HeartbeatKey.maximumLength else { throw .tooLong(path: path, length: bytes.count) }
        key = SymmetricKey(data: bytes)
        byteCount = bytes.count
        fingerprint = "sha256:" + Hex.encode(SHA256.hash(data: bytes).prefix(6))
    }

    /// "sha256:" and the first 12 hex digits of the key's SHA-256: tells two keys apart in
    /// status and logs (compare it between the nodes) without revealing the key.
    public let fingerprint: String

    /// Whether both hold the same key bytes.
    public func hasSameBytes(as other: HeartbeatKey) -> Bool {
        key.withUnsafeBytes { a in other.key.withUnsafeBytes { b in a.elementsEqual(b) } }
    }
}

/// The keys heartbeats are checked with: the current one (`heartbeat.key_file`), which this node
/// signs with, and during a key change the next one (`heartbeat.next_key_file`), also accepted.
public struct HeartbeatKeySet: Sendable {
    public var current: HeartbeatKey
    public var next: HeartbeatKey?

    public init(current: HeartbeatKey, next: HeartbeatKey?) {
        self.current = current
        self.next = next
    }

    /// Reads the key files `settings` names; nil with `auth: none`.
    /// - Parameter read: the file's bytes (the live one reads the file system; tests pass a table).
    /// - Throws: `HeartbeatKeyError` naming the file and the fix: unreadable, too short, too long,
    ///   or a next key equal to the current one.
    ///   A file that its group or other users can read, or that another user owns, is refused too
    ///   (`KeyFilePermissions`), with the `chmod`/`chown` that fixes it.
    /// - Parameter ownership: the file's mode and owner (nil when unknown: not checked).
    /// - Parameter runningAs: the user tandemd runs as (its effective uid).
    public static func load(_ settings: HeartbeatSettings,
                            read: (String) throws -> Data = { try Data(contentsOf: URL(fileURLWithPath: $0)) },
                            ownership: (String) -> FileOwnership? = HeartbeatKeySet.liveOwnership,
                            runningAs: UInt32 = UInt32(geteuid()))
        throws(HeartbeatKeyError) -> HeartbeatKeySet? {
        guard case .hmacSHA256(let keyFile) = settings.authentication else { return nil }
        func key(_ path: String, option: String) throws(HeartbeatKeyError) -> HeartbeatKey {
            let data: Data
            do { data = try read(path) } catch {
                throw .unreadable(path: path, option: option, reason: FileErrorText.describe(error))
            }
            if let o = ownership(path),
               let problem = KeyFilePermissions.problem(path: path, mode: o.mode, owner: o.owner, runningAs: runningAs) {
                throw .insecure(problem)
            }
            return try HeartbeatKey(fileContents: data, path: path)
        }
        let current = try key(keyFile, option: "key_file")
        var next: HeartbeatKey?
        if let nextFile = settings.nextKeyFile {
            next = try key(nextFile, option: "next_key_file")
            if let next, next.hasSameBytes(as: current) {
                throw .sameKeyTwice(current: keyFile, next: nextFile)
            }
        }
        return HeartbeatKeySet(current: current, next: next)
    }

    /// What `tandemctl check-config` says about the key files of `settings`: errors for a file
    /// that holds no usable key or a next key equal to the current one; warnings for a file that
    /// cannot be read here (check-config may run on another host; tandemd refuses to start without it).
    /// A file with loose permissions or a foreign owner is a warning here (tandemd refuses it).
    public static func check(_ settings: HeartbeatSettings,
                             read: (String) throws -> Data = { try Data(contentsOf: URL(fileURLWithPath: $0)) },
                             ownership: (String) -> FileOwnership? = HeartbeatKeySet.liveOwnership,
                             runningAs: UInt32 = 0)
        -> (errors: [String], warnings: [String]) {
        guard case .hmacSHA256(let keyFile) = settings.authentication else { return ([], []) }
        var errors: [String] = [], warnings: [String] = []
        var keys: [HeartbeatKey] = []
        for (option, path) in [("key_file", keyFile), ("next_key_file", settings.nextKeyFile)] {
            guard let path else { continue }
            let data: Data
            do { data = try read(path) } catch {
                warnings.append("heartbeat.\(option): cannot read \(path) here (\(FileErrorText.describe(error))); "
                    + "tandemd will refuse to start on a node without it")
                continue
            }
            if let o = ownership(path),
               let problem = KeyFilePermissions.problem(path: path, mode: o.mode, owner: o.owner, runningAs: runningAs) {
                warnings.append("heartbeat.\(option): \(problem); tandemd refuses to start with it")
            }
            do { keys.append(try HeartbeatKey(fileContents: data, path: path)) } catch {
                errors.append("heartbeat.\(option): \(error)")
            }
        }
        if keys.count == 2, keys[0].hasSameBytes(as: keys[1]), let next = settings.nextKeyFile {
            errors.append("heartbeat.next_key_file: \(HeartbeatKeyError.sameKeyTwice(current: keyFile, next: next))")
        }
        return (errors, warnings)
    }

    /// A file's permission bits and owner.
    public typealias FileOwnership = (mode: UInt32, owner: UInt32)

    /// The mode and owner of the file `path` names (after symbolic links); nil when it cannot be read.
    public static func liveOwnership(_ path: String) -> FileOwnership? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt32(info.st_mode) & 0o7777, UInt32(info.st_uid))
    }

    /// The authenticators: (current, next).
    public var authenticators: (current: HMACHeartbeatAuthenticator, next: HMACHeartbeatAuthenticator?) {
        (HMACHeartbeatAuthenticator(key: current), next.map { HMACHeartbeatAuthenticator(key: $0) })
    }
}

/// Why a heartbeat key file cannot be used.
public enum HeartbeatKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    case tooShort(path: String, length: Int)
    case tooLong(path: String, length: Int)
    /// The file cannot be read; `option` is the config key naming it.
    case unreadable(path: String, option: String, reason: String)
    /// `next_key_file` holds the same bytes as `key_file`.
    case sameKeyTwice(current: String, next: String)
    /// Readable by the file's group or other users, or owned by another user (`KeyFilePermissions`).
    case insecure(String)

    public var description: String {
        switch self {
        case .tooShort(let path, let n):
            return "heartbeat key file \(path) holds \(n) bytes; it needs at least \(HeartbeatKey.minimumLength): "
                + "create one with `head -c 32 /dev/urandom > \(path)` and copy it to both nodes"
        case .tooLong(let path, let n):
            return "heartbeat key file \(path) holds \(n) bytes, more than \(HeartbeatKey.maximumLength): "
                + "is heartbeat.key_file pointing at the right file?"
        case .unreadable(let path, let option, let reason):
            return "cannot read heartbeat \(option) \(path): \(reason): place the key there on this node (mode 0600), "
                + "the same key as on the peer"
        case .insecure(let problem):
            return problem
        case .sameKeyTwice(let current, let next):
            return "heartbeat next_key_file \(next) holds the same key as key_file \(current): put the new key in "
                + "next_key_file (`head -c 32 /dev/urandom > \(next)`), or remove next_key_file"
        }
    }
}

/// HMAC-SHA256 over the packet, 32-byte tag (RFC 2104 with SHA-256; RFC 4231's test vectors).
///
/// The key is set up once: two SHA-256 states that have absorbed the key's inner and outer pad
/// blocks (`K ⊕ ipad`, `K ⊕ opad`; a key longer than the 64-byte block is hashed first). Each tag
/// starts from copies of them (swift-crypto's digests copy on write), which saves two SHA-256
/// blocks and the key handling per heartbeat sent and received. The hashing itself is swift-crypto's
/// (BoringSSL); only the two-pass composition is here, fed through `update(bufferPointer:)`
/// because `HMAC.update(data:)` walks the generic `DataProtocol` path, which cost more than the
/// SHA-256 blocks themselves on every heartbeat (issue 16 profile).
public struct HMACHeartbeatAuthenticator: HeartbeatAuthenticator {
    let key: HeartbeatKey
    /// SHA-256 after `K ⊕ ipad` (0x36 bytes) and after `K ⊕ opad` (0x5c bytes).
    private let inner: SHA256
    private let outer: SHA256

    /// SHA-256's block size in bytes (FIPS 180-4), the size HMAC pads the key to.
    static let blockSize = 64

    public init(key: HeartbeatKey) {
        self.key = key
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        key.key.withUnsafeBytes { raw in
            if raw.count > Self.blockSize {
                SHA256.hash(data: raw).withUnsafeBytes { digest in
                    for (index, byte) in digest.enumerated() { block[index] = byte }
                }
            } else {
                for (index, byte) in raw.enumerated() { block[index] = byte }
            }
        }
        var inner = SHA256(), outer = SHA256()
        var pad = [UInt8](repeating: 0, count: Self.blockSize)
        for index in block.indices { pad[index] = block[index] ^ 0x36 }
        pad.withUnsafeBytes { inner.update(bufferPointer: $0) }
        for index in block.indices { pad[index] = block[index] ^ 0x5c }
        pad.withUnsafeBytes { outer.update(bufferPointer: $0) }
        for index in block.indices { block[index] = 0; pad[index] = 0 }
        self.inner = inner
        self.outer = outer
    }

    /// HMAC(K, bytes) = SHA-256((K ⊕ opad) ‖ SHA-256((K ⊕ ipad) ‖ bytes)).
    private func code(for bytes: ArraySlice<UInt8>) -> SHA256Digest {
        var first = inner
        bytes.withUnsafeBytes { first.update(bufferPointer: $0) }
        let innerDigest = first.finalize()
        var second = outer
        innerDigest.withUnsafeBytes { second.update(bufferPointer: $0) }
        return second.finalize()
    }

    public func tag(for bytes: ArraySlice<UInt8>) -> [UInt8] {
        code(for: bytes).withUnsafeBytes { Array($0) }
    }

    /// Compares every byte whatever the first difference (an OR of XORs), so the time taken
    /// tells nothing about how much of a forged tag was right; a tag of another length is unequal.
    public func isValidTag(_ tag: ArraySlice<UInt8>, for bytes: ArraySlice<UInt8>) -> Bool {
        guard tag.count == SHA256Digest.byteCount else { return false }
        return code(for: bytes).withUnsafeBytes { expected in
            tag.withUnsafeBytes { given in
                var difference: UInt8 = 0
                for index in 0..<SHA256Digest.byteCount { difference |= expected[index] ^ given[index] }
                return difference == 0
            }
        }
    }
}

/// Whether new heartbeat keys would lock a live peer out (operator report: changing `key_file` to
/// a new key on one node and reloading made every packet of the peer `unauthenticated`, and both
/// nodes went active).
public enum HeartbeatKeyChange {
    /// Key fingerprints: the current one and the next, or nil for `auth: none`.
    public typealias Fingerprints = (current: String, next: String?)

    /// Why reloading from `running` to `fresh` keys would stop this node from accepting the
    /// heartbeats of a live peer that signs with `peerSignsWith` (a slot of `running`), with the
    /// fix; nil when the new keys still accept them (or the peer is not heard).
    public static func lockout(running: Fingerprints?, fresh: Fingerprints?, peerAlive: Bool,
                               peerSignsWith: HeartbeatVerifier.KeySlot?, peerName: String) -> String? {
        guard peerAlive else { return nil }
        let twoSteps = "change keys in two steps (README: \"changing the key\"): add the new key as next_key_file on both "
            + "nodes and reload both, then make it key_file on both"
        guard let running else {
            guard fresh != nil else { return nil }
            return "heartbeat: \(peerName) sends unauthenticated heartbeats (auth: none), which the new key_file would refuse: "
                + "both nodes would go active; switch both nodes to the key at once (stop one, reload the other, start it)"
        }
        guard let slot = peerSignsWith else { return nil }
        let signing = slot == .current ? running.current : running.next
        guard let signing else { return nil }
        guard let fresh else {
            return "heartbeat: \(peerName) signs with \(signing) and auth: none would no longer check it; "
                + "switch both nodes at once (stop one, reload the other, start it)"
        }
        if fresh.current == signing || fresh.next == signing { return nil }
        return "heartbeat: \(peerName) signs with \(signing) (this node's \(slot) key), which the new keys (key_file \(fresh.current)"
            + (fresh.next.map { ", next_key_file \($0)" } ?? "") + ") would refuse: both nodes would go active; " + twoSteps
    }

    /// The reload's change of keys as a line of its difference ("~ heartbeat keys: …"), nil when
    /// the fingerprints are the same.
    public static func describe(running: Fingerprints?, fresh: Fingerprints?) -> String? {
        func text(_ keys: Fingerprints?) -> String {
            guard let keys else { return "none (auth: none)" }
            return "key_file \(keys.current)" + (keys.next.map { ", next_key_file \($0)" } ?? "")
        }
        guard running?.current != fresh?.current || running?.next != fresh?.next else { return nil }
        return "~ heartbeat keys: \(text(running)) -> \(text(fresh))"
    }

    /// What the peer's own answer (`PeerRequest.keyFingerprints`) says of a reload that changes
    /// this node's signing key from `running`'s key_file to `fresh`'s: a refusal, with the fix,
    /// when the live peer holds neither as key_file nor as next_key_file the key this node would
    /// sign with (a next key written separately on each node: trial 34, both went active); a
    /// warning when it could not be asked; nothing when it holds the key, the signing key does
    /// not change, or the peer is not heard (nothing to lock out).
    public static func peerHoldsNewKey(running: Fingerprints?, fresh: Fingerprints?, peerAlive: Bool,
                                       answer: PeerKeysAnswer?, peerName: String) -> (refusal: String?, warning: String?) {
        guard peerAlive, let fresh, let answer, running?.current != fresh.current else { return (nil, nil) }
        switch answer {
        case .known(let peer):
            if peer.current == fresh.current || peer.next == fresh.current { return (nil, nil) }
            return ("heartbeat: \(peerName) does not hold the new key_file \(fresh.current) (it holds key_file \(peer.current)"
                + (peer.next.map { ", next_key_file \($0)" } ?? ", no next key") + "): it would refuse every heartbeat from this node, "
                + "go active, and both would hold the VIPs. Copy this node's key file to \(peerName) byte for byte (the same file on "
                + "both nodes, not one generated on each), reload \(peerName) until its status shows next key \(fresh.current), then reload here", nil)
        case .unknown(let why):
            return (nil, "this node now signs with \(fresh.current), and \(peerName) could not be asked whether it holds that key "
                + "(\(why)): `tandemctl status` on \(peerName) must show it as key or next key, or \(peerName) goes active within the dead time")
        }
    }

    /// What a node that started signing with `ours` (its key_file) says when the peer's own
    /// answer shows it holds that key neither as key_file nor as next_key_file: the peer refuses
    /// every heartbeat from this node and may take over while this node serves (trial 35: a
    /// node restarted onto a next key the peer lacked, after its reload had been refused for
    /// it, started without a word). nil when the peer holds it, or could not be asked.
    public static func peerLacksOurKey(ours: Fingerprints?, answer: PeerKeysAnswer, peerName: String) -> String? {
        guard let ours, case .known(let peer) = answer, peer.current != ours.current, peer.next != ours.current else { return nil }
        return "heartbeat: \(peerName) does not hold the key_file this node signs with, \(ours.current) (it holds key_file "
            + "\(peer.current)" + (peer.next.map { ", next_key_file \($0)" } ?? ", no next key") + "): it refuses every heartbeat "
            + "from this node and takes over while this node serves. Copy this node's key file to \(peerName) as its "
            + "next_key_file and reload it there, or put back the key \(peerName) holds here and restart"
    }

    /// Why signing with `fresh`'s key_file would make a live peer refuse this node's heartbeats,
    /// with the fix; nil when the peer is known to accept it. The peer accepts the key it signs
    /// with (`peerSignsWith`, a slot of `running`) and, when it runs the same config as this node
    /// (`peerRunsRunningConfig`: the digest its heartbeats carry is this node's), the running
    /// next_key_file: that is step 2 of the documented rotation. Any other new signing key (a
    /// step skipped, a next key the peer refused to load, a key file rewritten in place) is one
    /// the peer cannot check: it would hear nothing, go active, and both would hold the VIPs.
    public static func peerWouldRefuse(running: Fingerprints?, fresh: Fingerprints?, peerAlive: Bool,
                                       peerSignsWith: HeartbeatVerifier.KeySlot?, peerRunsRunningConfig: Bool,
                                       peerName: String, peerSerial: UInt64?) -> String? {
        guard peerAlive, let running, let fresh, fresh.current != running.current else { return nil }
        guard let slot = peerSignsWith, let signing = slot == .current ? running.current : running.next else { return nil }
        var accepted = [signing]
        if peerRunsRunningConfig, let next = running.next { accepted.append(next) }
        if accepted.contains(fresh.current) { return nil }
        let why = peerRunsRunningConfig
            ? (running.next == nil
               ? "it signs with \(signing) and the config in force has no next_key_file"
               : "it signs with \(signing) and the next key in force is \(running.next!), not this key (was a key file rewritten in place?)")
            : "it signs with \(signing) and runs another config (serial \(peerSerial.map(String.init) ?? "?")), so it may not hold this key as its next_key_file"
        return "heartbeat: \(peerName) cannot check the new key_file \(fresh.current): \(why); it would refuse every heartbeat "
            + "from this node, go active, and both would hold the VIPs. Change keys in two steps (README: \"changing the key\"): "
            + "add the new key as next_key_file on both nodes and reload until \(peerName) runs that config, then make it key_file"
    }
}
