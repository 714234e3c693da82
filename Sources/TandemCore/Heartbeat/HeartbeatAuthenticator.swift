/// Computes and checks the tag that authenticates a heartbeat packet.
///
/// The live implementation is `HMACHeartbeatAuthenticator` (HMAC-SHA256). The codec and the
/// verifier see only this protocol, so they build without the Crypto module (the libFuzzer
/// target compiles them alone, with a stand-in authenticator).
public protocol HeartbeatAuthenticator: Sendable {
    /// The `HeartbeatCodec.tagLength`-byte tag over `bytes`.
    func tag(for bytes: ArraySlice<UInt8>) -> [UInt8]
    /// Whether `tag` is the tag of `bytes`. Implementations compare in constant time.
    func isValidTag(_ tag: ArraySlice<UInt8>, for bytes: ArraySlice<UInt8>) -> Bool
}
