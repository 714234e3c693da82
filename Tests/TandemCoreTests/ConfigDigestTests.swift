import Testing
@testable import TandemCore

@Suite struct ConfigDigestTests {
    func digest(_ yaml: String) throws -> String { try ConfigParser.parse(yaml: yaml).digest }

    @Test func digestIsHexSHA256() throws {
        let d = try digest(minimalConfig)
        #expect(d.count == 64)
        #expect(d.allSatisfy { $0.isHexDigit && !$0.isUppercase })
    }

    @Test func layoutCommentsAndKeyOrderDoNotChangeIt() throws {
        let reordered = """
        # the same config, written differently
        virtual_servers:
          - real_servers: [{weight: 5, port: 80, address: 10.0.0.21}]   # flow style
            forwarding: dr
            port: 80
            address: 10.0.0.10
            name: web
        heartbeat: {key_file: /etc/tandem/key, interval: 100ms, dead_time: 300ms, port: 539}
        virtual_ips: [{interface: eth0, address: 10.0.0.10/24}]
        nodes:
          - {addresses: [10.0.0.2], name: b}
          - {addresses: [10.0.0.1], name: a, priority: 100}
        serial: 7
        """
        #expect(try digest(reordered) == digest(minimalConfig))
    }

    @Test func equivalentSpellingsDoNotChangeIt() throws {
        #expect(try digest(minimalConfig.replacingOccurrences(of: "100ms", with: "100ms\n  dead_time: 300ms"))
                == digest(minimalConfig))
        #expect(try digest(minimalConfig.replacingOccurrences(of: "interval: 100ms", with: "interval: 1s"))
                == digest(minimalConfig.replacingOccurrences(of: "interval: 100ms", with: "interval: 1000ms")))
    }

    @Test(arguments: [
        ("weight: 5", "weight: 6"),
        ("serial: 7", "serial: 8"),
        ("port: 80\n    forwarding", "port: 80\n    scheduler: rr\n    forwarding"),
        ("interval: 100ms", "interval: 200ms"),
        ("10.0.0.10/24", "10.0.0.10/25"),
    ])
    func meaningfulChangesChangeIt(_ change: (String, String)) throws {
        let edited = minimalConfig.replacingOccurrences(of: change.0, with: change.1)
        #expect(edited != minimalConfig)
        #expect(try digest(edited) != digest(minimalConfig))
    }

    @Test func realServerOrderDoesNotMatter() throws {
        let two = minimal(appending: "      - {address: 10.0.0.22, port: 80}")
        let swapped = two.replacingOccurrences(of: "10.0.0.21", with: "10.0.0.XX")
            .replacingOccurrences(of: "10.0.0.22", with: "10.0.0.21").replacingOccurrences(of: "10.0.0.XX", with: "10.0.0.22")
            .replacingOccurrences(of: "weight: 5", with: "weight: 1").replacingOccurrences(of: "port: 80}", with: "port: 80, weight: 5}")
        #expect(try digest(two) == digest(swapped))
    }
}
