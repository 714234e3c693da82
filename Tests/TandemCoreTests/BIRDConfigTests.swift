import Foundation
import Testing
@testable import TandemCore

/// The BIRD files shipped beside examples/cluster.yaml are exactly what `tandemctl bird-config`
/// generates (integration/host/test_cluster_routes.py checks that BIRD 2 parses them).
@Suite struct BIRDConfigTests {
    static let example = repositoryRoot.appendingPathComponent("examples/cluster.yaml")

    static func shipped(_ name: String) throws -> String {
        try String(contentsOf: repositoryRoot.appendingPathComponent("examples/bird/\(name)"), encoding: .utf8)
    }

    @Test(arguments: ["director-1", "director-2", "director-3"])
    func directorFileIsGenerated(_ director: String) throws {
        let config = try ConfigParser.load(path: Self.example.path)
        #expect(try BIRDConfig.director(config, name: director, source: "cluster.yaml") == (try Self.shipped("\(director).conf")))
    }

    @Test func upstreamFileIsGenerated() throws {
        let config = try ConfigParser.load(path: Self.example.path)
        #expect(try BIRDConfig.upstream(config, peer: nil, source: "cluster.yaml") == (try Self.shipped("upstream.conf")))
    }

    @Test func directorFileFollowsTheClusterSettings() throws {
        let config = try ConfigParser.parse(yaml: minimalClusterConfig
            .replacingOccurrences(of: "  route_table: 100", with: "  route_table: 4000")
            .replacingOccurrences(of: "    local_as: 65010", with: "    local_as: 65010\n    bfd: false"))
        let text = try BIRDConfig.director(config, name: "d2", source: "c.yaml")
        #expect(text.contains("    kernel table 4000;\n"))
        #expect(text.contains("        import where krt_source = 250;\n"))
        #expect(text.contains("    local 10.0.0.2 as 65010;\n    neighbor 10.0.0.254 as 65000;\n"))
        #expect(text.contains("        export where proto = \"tandem_vips4\";\n"))
        #expect(!text.contains("bfd"))
        #expect(!text.contains("tandem_vips6"))
    }

    @Test func errorsNameWhatIsMissing() throws {
        let pair = try ConfigParser.parse(yaml: minimalConfig)
        #expect(throws: BIRDConfig.GenerationError.notACluster) { try BIRDConfig.director(pair, name: "a", source: "p.yaml") }
        let cluster = try ConfigParser.parse(yaml: minimalClusterConfig)
        #expect(throws: BIRDConfig.GenerationError.unknownDirector("d9", known: ["d1", "d2"])) {
            try BIRDConfig.director(cluster, name: "d9", source: "c.yaml")
        }
        #expect(throws: BIRDConfig.GenerationError.unknownPeer("core", known: ["upstream1"])) {
            try BIRDConfig.upstream(cluster, peer: "core", source: "c.yaml")
        }
        #expect(BIRDConfig.GenerationError.unknownDirector("d9", known: ["d1", "d2"]).description
                == "no director is called \"d9\"; the config names d1, d2")
    }

    @Test func nodeNamesBecomeBIRDSymbols() {
        #expect(BIRDConfig.symbol("director-1") == "director_1")
        #expect(BIRDConfig.symbol("lb.2") == "lb_2")
        #expect(BIRDConfig.symbol("7th") == "d_7th")
    }
}
