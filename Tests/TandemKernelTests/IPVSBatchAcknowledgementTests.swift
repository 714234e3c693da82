import Testing
import TandemCore
@testable import TandemKernel

/// A batch asks the kernel to acknowledge only its last change (NLM_F_ACK); every other change
/// is answered only when it fails. The flag sits in the nlmsghdr's flags field (bytes 6-7, host
/// order); nothing else in the message depends on it.
struct IPVSBatchAcknowledgementTests {
    static let changes: [IPVSChange] = [
        .addService(IPVSService(key: httpKey, scheduler: "wrr")),
        .deleteService(httpKey),
        .addDestination(httpKey, IPVSDestination(address: IPAddress("10.20.0.2")!, port: 8080, forwarding: .masquerade, weight: 3)),
        .deleteDestination(httpKey, IPVSDestinationKey(address: IPAddress("10.20.0.2")!, port: 8080)),
    ]

    @Test(arguments: changes)
    func acknowledgeFlagIsTheOnlyDifference(change: IPVSChange) {
        let acked = IPVSWire.message(for: change, family: familyID, sequence: 9, acknowledge: true)
        let quiet = IPVSWire.message(for: change, family: familyID, sequence: 9, acknowledge: false)
        #expect(acked == IPVSWire.message(for: change, family: familyID, sequence: 9))
        #expect(Array(acked[6..<8]) == [0x05, 0x00])  // NLM_F_REQUEST | NLM_F_ACK
        #expect(Array(quiet[6..<8]) == [0x01, 0x00])  // NLM_F_REQUEST
        #expect(Array(acked[..<6]) == Array(quiet[..<6]))
        #expect(Array(acked[8...]) == Array(quiet[8...]))
    }
}
