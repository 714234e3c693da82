import Foundation
import Testing
@testable import TandemCore

/// Every corpus file (Fixtures/import, README.md there) imports to a valid Tandem config, or is
/// refused with the error its table row names; the tally of what was left out is printed.
/// "Fully" means nothing was left out; notes and reproduced quirks may still be listed.
@Suite struct ImportCorpusTests {
    enum Outcome: Equatable {
        /// Imported; `unmapped` findings of kind "not carried over".
        case imported(unmapped: Int)
        /// Refused with an error whose text contains this.
        case refused(String)
    }

    static let corpus = repositoryRoot.appendingPathComponent("Tests/TandemCoreTests/Fixtures/import")

    /// file, node names, addresses, expected outcome
    static let table: [(String, [String]?, [String]?, Outcome)] = [
        ("ka-sample-nat-ssl.conf", nil, ["192.168.200.2", "192.168.200.3"], .imported(unmapped: 8)),
        ("ka-sample-nat-ssl.conf", nil, nil, .refused("keepalived uses multicast here")),
        ("ka-fwmark.conf", nil, ["192.168.200.2", "192.168.200.3"], .refused("no VIP")),
        ("ka-vsgroup.conf", nil, nil, .imported(unmapped: 0)),
        ("ka-misc-quorum.conf", nil, nil, .imported(unmapped: 5)),
        ("ka-ipv6.conf", nil, nil, .imported(unmapped: 0)),
        ("ka-lvs-syncd.conf", nil, nil, .imported(unmapped: 2)),
        ("ka-routes-scripts.conf", nil, nil, .imported(unmapped: 8)),
        ("ka-conditional.conf", ["high", "low"], nil, .imported(unmapped: 0)),
        ("ka-conditional.conf", nil, nil, .refused("--node-names")),
        ("ka-udp-dns.conf", nil, nil, .imported(unmapped: 1)),
        ("ka-k8s-apiserver.conf", nil, nil, .imported(unmapped: 2)),
        ("ka-haproxy-unicast.conf", nil, nil, .imported(unmapped: 3)),
        ("lvs-redhat-sample.cf", nil, nil, .imported(unmapped: 1)),
    ]

    static func run(_ file: String, names: [String]?, addresses: [String]?) throws -> ImportResult {
        let path = corpus.appendingPathComponent(file).path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let source = InMemoryImportFiles([path: text])
        if file.hasSuffix(".cf") { return try LVSCFImport.run(file: path, source: source) }
        return try KeepalivedImport.run(files: [path], options: .init(nodeNames: names, addresses: addresses), source: source)
    }

    @Test func everyCorpusFileIsInTheTable() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).filter { $0 != "README.md" }
        #expect(Set(files) == Set(Self.table.map(\.0)))
    }

    @Test func corpus() throws {
        var fully = 0, withNotes = 0, refused = 0
        var unmapped: [String: Int] = [:]
        for (file, names, addresses, expected) in Self.table {
            do {
                let result = try Self.run(file, names: names, addresses: addresses)
                _ = try ConfigParser.parse(yaml: result.yaml)
                let left = result.findings.filter { $0.kind == .notCarriedOver }
                #expect(expected == .imported(unmapped: left.count), "\(file): \(left.map(\.description).joined(separator: "\n"))")
                #expect(left.allSatisfy { $0.location != nil }, "\(file)")
                if left.isEmpty { fully += 1 } else { withNotes += 1 }
                for finding in left {
                    let construct = finding.message.split(separator: " ").first.map(String.init) ?? ""
                    unmapped[construct, default: 0] += 1
                }
            } catch let error as ImportError {
                refused += 1
                guard case .refused(let text) = expected else {
                    Issue.record("\(file): refused: \(error)")
                    continue
                }
                #expect(error.description.contains(text), "\(file): \(error)")
                #expect(error.location != nil || error.description.hasPrefix("/"), "\(file): \(error)")
            }
        }
        let ranked = unmapped.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
        print("import corpus: \(Self.table.count) runs over \(Set(Self.table.map(\.0)).count) files: \(fully) imported fully (notes and quirks only), \(withNotes) with settings left out, \(refused) refused; not carried over, most frequent first: \(ranked.joined(separator: ", "))")
    }

    /// The IPVS table each corpus import asks for, against `Fixtures/import-tables/NAME.save`:
    /// the text integration/vm/test_import_keepalived.py checks against the table keepalived
    /// itself installs from the same file. Together: import → this text → keepalived's table.
    @Test(arguments: [
        ("ka-sample-nat-ssl.conf", nil, ["192.168.200.2", "192.168.200.3"]), ("ka-vsgroup.conf", nil, nil),
        ("ka-misc-quorum.conf", nil, nil), ("ka-ipv6.conf", nil, nil), ("ka-lvs-syncd.conf", nil, nil),
        ("ka-conditional.conf", ["high", "low"], nil), ("ka-k8s-apiserver.conf", nil, nil), ("ka-udp-dns.conf", nil, nil),
    ] as [(String, [String]?, [String]?)])
    func tableMatchesKeepalivedGolden(_ file: String, _ names: [String]?, _ addresses: [String]?) throws {
        let result = try Self.run(file, names: names, addresses: addresses)
        let table = IPVSSaveFormat.render(try ConfigParser.parse(yaml: result.yaml).desiredIPVSTable())
        let golden = repositoryRoot.appendingPathComponent("Tests/TandemCoreTests/Fixtures/import-tables/\(file.replacingOccurrences(of: ".conf", with: ".save"))")
        #expect(table == (try String(contentsOf: golden, encoding: .utf8)))
    }
}
