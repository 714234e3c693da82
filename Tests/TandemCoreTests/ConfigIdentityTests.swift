import Testing
@testable import TandemCore

@Suite struct ConfigIdentityTests {
    let config = try! ConfigParser.parse(yaml: minimalConfig)

    @Test func byName() throws {
        #expect(try config.identifyNode(requested: "b", localAddresses: []).get().name == "b")
        #expect(config.identifyNode(requested: "c", localAddresses: []) == .failure(.unknownNode("c", known: ["a", "b"])))
    }

    @Test func byOwnedAddress() throws {
        #expect(try config.identifyNode(requested: nil, localAddresses: [IPAddress("10.0.0.2")!]).get().name == "b")
        #expect(config.identifyNode(requested: nil, localAddresses: [IPAddress("10.9.9.9")!]) == .failure(.noLocalAddress(known: ["a", "b"])))
        #expect(config.identifyNode(requested: nil, localAddresses: [IPAddress("10.0.0.1")!, IPAddress("10.0.0.2")!])
                == .failure(.ambiguous(["a", "b"])))
    }
}
