import Foundation
import Testing
@testable import TandemCore

/// The loader decodes config bytes itself (one validating pass); it must accept and refuse
/// exactly what Foundation's `String(data:encoding: .utf8)` does, byte order mark included.
@Suite struct ConfigTextDecodingTests {
    static let cases: [[UInt8]] = [
        [], [0x61], [0xEF, 0xBB, 0xBF, 0x61], [0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF, 0x61], [0xEF, 0xBB, 0xBF],
        [0xEF, 0xBB], [0x61, 0xEF, 0xBB, 0xBF], [0xFF, 0x61], [0xC3, 0xA9], [0xED, 0xA0, 0x80],
        [0xFE, 0xFF, 0x00, 0x61], [0xF4, 0x90, 0x80, 0x80], [0xC0, 0x80], [0xEF, 0xBB, 0xBF, 0xFF],
        [0xF0, 0x9F, 0x98, 0x80], [0xF0, 0x9F, 0x98], Array("serial: 1\n".utf8),
    ]

    @Test(arguments: cases)
    func decodesLikeFoundation(_ bytes: [UInt8]) {
        let ours = ConfigParser.utf8Text(Data(bytes))
        let foundation = String(data: Data(bytes), encoding: .utf8)
        #expect(ours.map { Array($0.utf8) } == foundation.map { Array($0.utf8) })
    }

    @Test func bomBeforeAConfigIsAccepted() throws {
        let result = try ConfigParser.parseWithWarnings(data: Data([0xEF, 0xBB, 0xBF] + Array(minimalConfig.utf8)))
        #expect(result.config.serial == 7)
    }

    @Test func slashInAnAddressIsReportedAsAPrefix() {
        #expect(errors(of: minimal(replacingLine: 19, with: "      - address: 10.0.0.21/32")).contains(
            "virtual_servers[0].real_servers[0].address: \"10.0.0.21/32\" has a prefix length; write the address alone here (line 19)"))
    }
}

/// Text nested deeper than `ConfigParser.maximumNesting` is refused before it is parsed: Yams's
/// composer, which the loader used before libyaml's events, recursed once per level, and 10,000
/// "[" (run through the `config` fuzz target) crashed the loader with a stack overflow instead of
/// an error. The reader builds its tree without recursion now; the limit and its lines stay.
@Suite struct ConfigNestingTests {
    static let tooDeep: [(String, String, Int)] = [
        ("flow sequences, the crashing input", String(repeating: "[", count: 10_000), 1),
        ("flow mappings", String(repeating: "{a: ", count: 5_000), 1),
        ("compact block sequences", String(repeating: "- ", count: 10_000) + "x", 1),
        ("complex keys", String(repeating: "? ", count: 10_000) + "x", 1),
        ("block mappings, one level a line", (0..<3_000).map { String(repeating: " ", count: $0) + "k:" }.joined(separator: "\n"), 65),
        ("after a valid config", minimalConfig + "\nextra: " + String(repeating: "[", count: 70), 22),
    ]

    @Test(arguments: tooDeep.map(\.0))
    func refusedWithItsLine(_ name: String) {
        let (_, text, line) = Self.tooDeep.first { $0.0 == name }!
        #expect(errors(of: text) == ["(top level): nests collections more than 64 levels deep: a config needs fewer than 10 (line \(line))"])
    }

    @Test func examplesAreFarFromTheLimit() throws {
        for file in exampleConfigs() {
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(YAMLNesting.lineNestedDeeper(than: 12, in: text) == nil, "\(file.lastPathComponent)")
        }
    }

    @Test func bracketsInsideQuotesOnlyRaiseTheEstimate() {
        let text = minimal(appending: "note: \"" + String(repeating: "[", count: 40) + "\"")
        #expect(YAMLNesting.lineNestedDeeper(than: 64, in: text) == nil)
        #expect(YAMLNesting.lineNestedDeeper(than: 40, in: text) == 22)
    }
}
