import Testing
@testable import TandemCore

/// `birdc show protocols` as BIRD 2.0.12 prints it (captured from the generated director config).
@Suite struct BIRDProtocolsTests {
    static let captured = """
    BIRD 2.0.12 ready.
    Name       Proto      Table      State  Since         Info
    device1    Device     ---        up     05:49:01.156  
    tandem_vips4 Kernel     master4    up     05:49:01.156  
    bfd1       BFD        ---        up     05:49:01.156  
    upstream   BGP        ---        start  05:49:01.156  Active        Socket: Connection refused
    up6        BGP        ---        up     2026-11-30    Established   

    """

    @Test func bgpSessionsOnly() throws {
        let sessions = try BIRDProtocols.bgpSessions(Self.captured)
        #expect(sessions == [
            BGPSessionStatus(name: "upstream", state: "start", since: "05:49:01.156", info: "Active Socket: Connection refused"),
            BGPSessionStatus(name: "up6", state: "up", since: "2026-11-30", info: "Established"),
        ])
        #expect(sessions[1].line == "up6: up since 2026-11-30 (Established)")
    }

    @Test func notAProtocolTable() throws {
        #expect(throws: BIRDOutputError(text: "Unable to connect to server control socket (/run/bird/bird.ctl): No such file or directory")) {
            try BIRDProtocols.bgpSessions("Unable to connect to server control socket (/run/bird/bird.ctl): No such file or directory\n")
        }
        #expect(throws: BIRDOutputError(text: "no output")) { try BIRDProtocols.bgpSessions("") }
        #expect(try BIRDProtocols.bgpSessions("BIRD 2.0.12 ready.\nName Proto Table State Since Info\n").isEmpty)
    }
}
