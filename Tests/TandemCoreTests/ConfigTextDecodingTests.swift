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
