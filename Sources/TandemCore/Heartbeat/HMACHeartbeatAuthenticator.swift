import Crypto
import Foundation

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
    }
}

/// Why a heartbeat key file cannot be used.
public enum HeartbeatKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    case tooShort(path: String, length: Int)
    case tooLong(path: String, length: Int)

    public var description: String {
        switch self {
        case .tooShort(let path, let n):
            return "heartbeat key file \(path) holds \(n) bytes; it needs at least \(HeartbeatKey.minimumLength): "
                + "create one with `head -c 32 /dev/urandom > \(path)` and copy it to both nodes"
        case .tooLong(let path, let n):
            return "heartbeat key file \(path) holds \(n) bytes, more than \(HeartbeatKey.maximumLength): "
                + "is auth.key_file pointing at the right file?"
        }
    }
}

/// HMAC-SHA256 over the packet, 32-byte tag, checked in constant time by swift-crypto.
public struct HMACHeartbeatAuthenticator: HeartbeatAuthenticator {
    let key: HeartbeatKey

    public init(key: HeartbeatKey) { self.key = key }

    public func tag(for bytes: ArraySlice<UInt8>) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: bytes, using: key.key))
    }

    public func isValidTag(_ tag: ArraySlice<UInt8>, for bytes: ArraySlice<UInt8>) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(tag, authenticating: bytes, using: key.key)
    }
}
