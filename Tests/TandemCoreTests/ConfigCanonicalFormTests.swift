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

    /// The digest's writer skips building the servers' JSON objects; its bytes must be the
    /// compact text of `canonical` for every shape of service (examples: fwmark, sorry servers,
    /// health checks, tunnels, per-server forwarding).
    @Test(arguments: exampleConfigs())
    func directCanonicalBytesEqualTheCompactText(_ file: URL) throws {
        let config = try ConfigParser.load(path: file.path)
        #expect(config.canonicalCompactUTF8 == config.canonical.compactUTF8)
    }

    @Test func directCanonicalBytesOfConfigsWithoutServersAndWithMany() throws {
        var config = try ConfigParser.parse(yaml: benchConfig(services: 300, servers: 4))
        #expect(config.canonicalCompactUTF8 == config.canonical.compactUTF8)
        config.virtualServers = []
        #expect(config.canonicalCompactUTF8 == config.canonical.compactUTF8)
        config.virtualServers = [try ConfigParser.parse(yaml: minimalConfig).virtualServers[0]]
        config.virtualServers[0].realServers = []
        #expect(config.canonicalCompactUTF8 == config.canonical.compactUTF8)
    }

    @Test func directCanonicalBytesOfRealServersOfEveryShape() throws {
        // Thresholds, per-server forwarding (a tunnel with every option), IPv6, port 0 and
        // weight 0: each field of a real server's canonical object.
        var config = try ConfigParser.parse(yaml: minimalConfig)
        let base = config.virtualServers[0].realServers[0]
        var servers: [RealServer] = []
        for address in ["10.0.0.21", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::ffff:10.0.0.1"] {
            var server = base
            server.address = IPAddress(address)!
            servers.append(server)
        }
        servers[1].upperThreshold = 4_294_967_295
        servers[1].lowerThreshold = 7
        servers[2].forwarding = .tunnel(TunnelSettings(type: .gue, port: 6080, checksum: .remoteChecksum))
        servers[3].forwarding = .nat
        servers[3].port = 0
        servers[4].weight = 0
        config.virtualServers[0].realServers = servers
        #expect(String(decoding: config.canonicalCompactUTF8, as: UTF8.self) == config.canonical.compactText)
    }

    @Test func objectWithAnExtraKeyIsWrittenInKeyOrder() {
        for extra in ["", "a", "m", "z"] {
            for fields in [[:], ["b": 1], ["b": 1, "y": [true]]] as [[String: JSONValue]] {
                for indent in [false, true] {
                    var out = JSONWriter(indent: indent)
                    out.writeObject(fields, level: 0, plus: extra) { out, level in out.write(["x": 2], level: level) }
                    var whole = fields
                    whole[extra] = ["x": 2]
                    var expected = JSONWriter(indent: indent)
                    expected.write(.object(whole), level: 0)
                    #expect(out.bytes == expected.bytes, "extra \(extra), fields \(fields.keys.sorted()), indent \(indent)")
                }
            }
        }
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
