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
