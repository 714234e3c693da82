import Foundation
import Testing
@testable import TandemCore

/// Pins the canonical form and digest of every example config (and of a large generated one) to
/// fixtures written by the code before the config loader was optimised, so that speed work cannot
/// change a digest that a running pair compares.
@Suite struct ConfigCanonicalFormTests {
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/TandemCoreTests/Fixtures/canonical")

    /// `name digest` lines of Fixtures/canonical/digests.txt.
    static func pinnedDigests() throws -> [String: String] {
        let text = try String(contentsOf: fixtures.appendingPathComponent("digests.txt"), encoding: .utf8)
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { out[String(parts[0])] = String(parts[1]) }
        }
        return out
    }

    @Test func everyExampleHasAPinnedDigest() throws {
        let pinned = try Self.pinnedDigests()
        let names = exampleConfigs().map { $0.deletingPathExtension().lastPathComponent }
        #expect(!names.isEmpty)
        #expect(names.filter { pinned[$0] == nil } == [])
    }

    @Test(arguments: exampleConfigs())
    func exampleDigestIsPinned(_ file: URL) throws {
        let name = file.deletingPathExtension().lastPathComponent
        let config = try ConfigParser.load(path: file.path)
        #expect(config.digest == (try Self.pinnedDigests())[name])
    }

    @Test(arguments: exampleConfigs())
    func examplePrettyCanonicalFormIsPinned(_ file: URL) throws {
        let name = file.deletingPathExtension().lastPathComponent
        let config = try ConfigParser.load(path: file.path)
        let golden = try String(contentsOf: Self.fixtures.appendingPathComponent("\(name).json"), encoding: .utf8)
        #expect(config.canonical.prettyText + "\n" == golden)
    }

    /// The benchmark's config (integration/bench/ipvs_apply.py `config_text`), 300 services × 4.
    @Test func generatedBenchConfigDigestIsPinned() throws {
        let config = try ConfigParser.parse(yaml: benchConfig(services: 300, servers: 4))
        #expect(config.virtualServers.count == 300)
        #expect(config.digest == (try Self.pinnedDigests())["bench-300x4"])
    }

    @Test func digestIsSHA256OfCompactCanonicalText() throws {
        let config = try ConfigParser.parse(yaml: minimalConfig)
        let text = config.canonical.compactText
        #expect(text.hasPrefix("{\"announce\":{"))
        #expect(!text.contains(" \n"))
        #expect(config.digest == (try Self.pinnedDigests())["minimal"])
    }

    // MARK: JSON text form

    @Test func quotingEscapesExactlyTheJSONSpecials() {
        let value = JSONValue.string("a\"b\\c\nd\re\tf\u{01}g\u{1f}h\u{7f}é😀/")
        #expect(value.compactText == #""a\"b\\c\nd\re\tf\u0001g\u001fh"# + "\u{7f}é😀/\"")
    }

    @Test func keysAreSortedAndScalarsExact() {
        let value: JSONValue = ["b": [1, -9223372036854775807, true, false, .null], "a": "x", "B": [:], "": []]
        #expect(value.compactText == #"{"":[],"B":{},"a":"x","b":[1,-9223372036854775807,true,false,null]}"#)
        #expect(JSONValue.int(.min).compactText == "-9223372036854775808")
    }

    @Test func prettyTextIndentsTwoSpaces() {
        let value: JSONValue = ["k": [1, ["z": "y"]], "e": [], "o": [:]]
        #expect(value.prettyText == """
            {
              "e": [],
              "k": [
                1,
                {
                  "z": "y"
                }
              ],
              "o": {}
            }
            """)
    }
}

/// The same text as integration/bench/ipvs_apply.py `config_text(services, servers)`.
func benchConfig(services: Int, servers: Int) -> String {
    let portsPerVIP = 250
    let vips = (services + portsPerVIP - 1) / portsPerVIP
    var lines = ["serial: 1",
                 "nodes:",
                 "  - {name: lvs1, addresses: [192.0.2.1], priority: 150}",
                 "  - {name: lvs2, addresses: [192.0.2.2], priority: 100}",
                 "heartbeat: {interval: 1s, dead_time: 3s, auth: none}",
                 "virtual_ips:"]
    for v in 0..<vips { lines.append("  - {address: 198.18.\(v / 250).\(v % 250 + 1)/16, interface: eth0}") }
    lines += ["  - {address: 10.20.0.1/16, interface: eth1, nat_gateway: true}", "virtual_servers:"]
    for s in 0..<services {
        let v = s / portsPerVIP, port = 1000 + s % portsPerVIP
        lines += ["  - name: s\(s)", "    address: 198.18.\(v / 250).\(v % 250 + 1)", "    port: \(port)",
                  "    scheduler: wrr", "    forwarding: nat", "    real_servers:"]
        for r in 0..<servers { lines.append("      - {address: 10.20.\(v % 250).\(r + 2), port: \(port), weight: 1}") }
    }
    return lines.joined(separator: "\n") + "\n"
}
