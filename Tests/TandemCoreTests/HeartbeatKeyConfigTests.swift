import Foundation
import Testing
@testable import TandemCore

/// `heartbeat.next_key_file` (key rotation, issue 13).
@Suite struct HeartbeatKeyConfigTests {
    static func withNext(_ line: String) -> String {
        minimal(replacingLine: 9, with: "  key_file: /etc/tandem/key\n" + line)
    }

    @Test func parsedAndShownInTheSummary() throws {
        let config = try ConfigParser.parse(yaml: Self.withNext("  next_key_file: /etc/tandem/key.next"))
        #expect(config.heartbeat.nextKeyFile == "/etc/tandem/key.next")
        #expect(ConfigSummary.render(config, file: "f", node: nil).contains("HMAC-SHA256 key /etc/tandem/key (also accepting /etc/tandem/key.next during a key change)"))
    }

    static let refusals: [(String, String)] = [
        ("  next_key_file: key.next", "heartbeat.next_key_file: \"key.next\" must be an absolute path (line 10)"),
        ("  next_key_file: /etc/tandem/key",
         "heartbeat.next_key_file: next_key_file is the same file as key_file (/etc/tandem/key): give the file of the other key of the rotation, or remove next_key_file (line 10)"),
    ]

    @Test func refusals() {
        for (line, expected) in Self.refusals {
            #expect(throws: ConfigError.self) { try ConfigParser.parse(yaml: Self.withNext(line)) }
            do {
                _ = try ConfigParser.parse(yaml: Self.withNext(line))
            } catch {
                #expect(error.description.contains(expected), "\(error.description)")
            }
        }
        let none = minimal(replacingLine: 9, with: "  auth: none\n  next_key_file: /etc/tandem/key.next")
        do {
            _ = try ConfigParser.parse(yaml: none)
            Issue.record("auth: none with next_key_file was accepted")
        } catch {
            #expect(error.description.contains("auth is none, so a next key file makes no sense"), "\(error.description)")
        }
    }

    @Test func theDigestOfAConfigWithoutItIsUnchangedAndItsPathCounts() throws {
        let plain = try ConfigParser.parse(yaml: minimalConfig)
        #expect(!plain.canonical.prettyText.contains("next_key_file"))
        let rotating = try ConfigParser.parse(yaml: Self.withNext("  next_key_file: /etc/tandem/key.next"))
        #expect(rotating.canonical.prettyText.contains("\"next_key_file\" : \"/etc/tandem/key.next\"") || rotating.canonical.prettyText.contains("\"next_key_file\": \"/etc/tandem/key.next\""))
        #expect(plain.digest != rotating.digest)
    }
}

@Suite struct HeartbeatKeyChangeTests {
    /// Which reloads of the keys would lock out a live peer that signs with a given key.
    @Test func aReloadThatWouldRefuseTheLivePeersKeyIsNamed() {
        let a = "sha256:aaaaaaaaaaaa", b = "sha256:bbbbbbbbbbbb", c = "sha256:cccccccccccc"
        func lockout(_ running: HeartbeatKeyChange.Fingerprints?, _ fresh: HeartbeatKeyChange.Fingerprints?,
                     alive: Bool = true, slot: HeartbeatVerifier.KeySlot? = .current) -> String? {
            HeartbeatKeyChange.lockout(running: running, fresh: fresh, peerAlive: alive, peerSignsWith: slot, peerName: "rb")
        }
        // The documented rotation: next first, then swap; both keep accepting the peer's key.
        #expect(lockout((a, nil), (a, b)) == nil)
        #expect(lockout((a, b), (b, a)) == nil)
        #expect(lockout((a, b), (b, nil), slot: .next) == nil)
        // A different key_file in one step: refused, with the peer's key and the two-step fix.
        let refused = lockout((a, nil), (c, nil))
        #expect(refused?.hasPrefix("heartbeat: rb signs with sha256:aaaaaaaaaaaa (this node's current key), which the new keys (key_file sha256:cccccccccccc) would refuse") == true,
                "\(refused ?? "nil")")
        #expect(refused?.contains("add the new key as next_key_file on both nodes") == true)
        #expect(lockout((a, b), (b, nil), slot: .current) != nil)
        // Nobody to lock out, or no key the peer is known to sign with.
        #expect(lockout((a, nil), (c, nil), alive: false) == nil)
        #expect(lockout((a, nil), (c, nil), slot: nil) == nil)
        // Switching authentication on or off while the peer is heard.
        #expect(lockout(nil, (a, nil), slot: nil)?.contains("unauthenticated heartbeats") == true)
        #expect(lockout((a, nil), nil)?.contains("auth: none would no longer check it") == true)
        #expect(lockout(nil, nil, slot: nil) == nil)
    }

    /// Which reloads would sign with a key the live peer cannot check (it would hear nothing
    /// and go active): the documented rotation passes; a swap the peer's config does not
    /// prepare, or a key file rewritten in place, is refused with the peer named and the fix.
    @Test func aSigningKeyThePeerCannotCheckIsNamed() {
        let a = "sha256:aaaaaaaaaaaa", b = "sha256:bbbbbbbbbbbb", c = "sha256:cccccccccccc"
        func refused(_ running: HeartbeatKeyChange.Fingerprints?, _ fresh: HeartbeatKeyChange.Fingerprints?, alive: Bool = true,
                     slot: HeartbeatVerifier.KeySlot? = .current, sameConfig: Bool = true) -> String? {
            HeartbeatKeyChange.peerWouldRefuse(running: running, fresh: fresh, peerAlive: alive, peerSignsWith: slot,
                                               peerRunsRunningConfig: sameConfig, peerName: "rb", peerSerial: 24)
        }
        // The documented rotation: next first, then swap while the peer runs the config with the next key, then drop next.
        #expect(refused((a, nil), (a, b)) == nil)
        #expect(refused((a, b), (b, a)) == nil)
        #expect(refused((a, b), (b, nil), slot: .next, sameConfig: false) == nil)
        // The swap while the peer runs another config (it refused the one with the next key).
        let other = refused((a, b), (b, a), sameConfig: false)
        #expect(other?.hasPrefix("heartbeat: rb cannot check the new key_file sha256:bbbbbbbbbbbb: it signs with sha256:aaaaaaaaaaaa and runs another config (serial 24)") == true,
                "\(other ?? "nil")")
        #expect(other?.contains("add the new key as next_key_file on both nodes and reload until rb runs that config") == true)
        // key_file and next_key_file rewritten in place: the config (and its digest) unchanged.
        #expect(refused((a, b), (c, a))?.contains("the next key in force is sha256:bbbbbbbbbbbb, not this key") == true)
        #expect(refused((a, nil), (c, nil))?.contains("the config in force has no next_key_file") == true)
        // Nobody to refuse it, or nothing known of the peer's key, or no change of signing key.
        #expect(refused((a, b), (b, a), alive: false, sameConfig: false) == nil)
        #expect(refused((a, b), (b, a), slot: nil, sameConfig: false) == nil)
        #expect(refused((a, nil), (a, c), sameConfig: false) == nil)
        #expect(refused(nil, (a, nil), slot: nil) == nil)
    }

    /// A key rotated under the same path changes no config line: the reload's difference says so.
    @Test func aKeyChangeIsALineOfTheReloadsDifference() {
        let a = "sha256:aaaaaaaaaaaa", b = "sha256:bbbbbbbbbbbb"
        #expect(HeartbeatKeyChange.describe(running: (a, nil), fresh: (a, nil)) == nil)
        #expect(HeartbeatKeyChange.describe(running: nil, fresh: nil) == nil)
        #expect(HeartbeatKeyChange.describe(running: (a, nil), fresh: (a, b))
                == "~ heartbeat keys: key_file sha256:aaaaaaaaaaaa -> key_file sha256:aaaaaaaaaaaa, next_key_file sha256:bbbbbbbbbbbb")
        #expect(HeartbeatKeyChange.describe(running: (a, b), fresh: nil)
                == "~ heartbeat keys: key_file sha256:aaaaaaaaaaaa, next_key_file sha256:bbbbbbbbbbbb -> none (auth: none)")
    }

    /// A swap to a key the live peer says it does not hold (a next key written separately on each
    /// node: trial 34) is refused with both fingerprints and the fix; one it holds as key or next
    /// key passes; a peer that could not be asked gives a warning; no signing-key change, no
    /// answer asked, or a peer not heard gives nothing.
    @Test func aSwapToAKeyThePeerSaysItLacksIsRefused() {
        let a = "sha256:aaaaaaaaaaaa", b = "sha256:bbbbbbbbbbbb", x = "sha256:xxxxxxxxxxxx"
        func check(_ running: HeartbeatKeyChange.Fingerprints?, _ fresh: HeartbeatKeyChange.Fingerprints?, alive: Bool = true,
                   _ answer: PeerKeysAnswer?) -> (refusal: String?, warning: String?) {
            HeartbeatKeyChange.peerHoldsNewKey(running: running, fresh: fresh, peerAlive: alive, answer: answer, peerName: "rb")
        }
        let lacking = check((a, b), (b, a), .known(KeyFingerprints(current: a, next: x)))
        #expect(lacking.refusal?.hasPrefix("heartbeat: rb does not hold the new key_file sha256:bbbbbbbbbbbb (it holds key_file "
            + "sha256:aaaaaaaaaaaa, next_key_file sha256:xxxxxxxxxxxx): it would refuse every heartbeat from this node") == true,
                "\(lacking)")
        #expect(lacking.refusal?.contains("Copy this node's key file to rb byte for byte") == true && lacking.warning == nil)
        #expect(check((a, nil), (b, nil), .known(KeyFingerprints(current: a, next: nil))).refusal?.contains("no next key") == true)
        #expect(check((a, b), (b, a), .known(KeyFingerprints(current: a, next: b))) == (nil, nil))
        #expect(check((a, b), (b, a), .known(KeyFingerprints(current: b, next: a))) == (nil, nil))
        let unasked = check((a, b), (b, a), .unknown("no answer within 1s"))
        #expect(unasked.refusal == nil && unasked.warning?.contains("rb could not be asked whether it holds that key (no answer within 1s)") == true)
        #expect(check((a, b), (a, nil), .known(KeyFingerprints(current: x, next: nil))) == (nil, nil), "the signing key stays")
        #expect(check((a, b), (b, a), nil) == (nil, nil))
        #expect(check((a, b), (b, a), alive: false, .known(KeyFingerprints(current: x, next: nil))) == (nil, nil))
    }

    /// A node started signing with a key the peer holds neither as key_file nor as next_key_file
    /// is told so, with both fingerprints and the fix (trial 35); not when the peer holds it in
    /// either slot, or could not be asked.
    @Test func aStartOnAKeyThePeerLacksIsWarned() {
        let peer = PeerKeysAnswer.known(KeyFingerprints(current: "sha256:aaaaaaaaaaaa", next: "sha256:bbbbbbbbbbbb"))
        let warning = HeartbeatKeyChange.peerLacksOurKey(ours: ("sha256:cccccccccccc", "sha256:aaaaaaaaaaaa"), answer: peer, peerName: "rb")
        #expect(warning == "heartbeat: rb does not hold the key_file this node signs with, sha256:cccccccccccc (it holds key_file "
                + "sha256:aaaaaaaaaaaa, next_key_file sha256:bbbbbbbbbbbb): it refuses every heartbeat from this node and takes over "
                + "while this node serves. Copy this node's key file to rb as its next_key_file and reload it there, or put back "
                + "the key rb holds here and restart")
        #expect(HeartbeatKeyChange.peerLacksOurKey(ours: ("sha256:aaaaaaaaaaaa", nil), answer: peer, peerName: "rb") == nil)
        #expect(HeartbeatKeyChange.peerLacksOurKey(ours: ("sha256:bbbbbbbbbbbb", nil), answer: peer, peerName: "rb") == nil)
        #expect(HeartbeatKeyChange.peerLacksOurKey(ours: ("sha256:cccccccccccc", nil), answer: .unknown("no answer"), peerName: "rb") == nil)
        #expect(HeartbeatKeyChange.peerLacksOurKey(ours: nil, answer: peer, peerName: "rb") == nil)
    }
}
