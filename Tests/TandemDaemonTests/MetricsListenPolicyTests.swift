import Testing
import TandemCore
@testable import TandemDaemon

/// Which `metrics.listen` endpoints a node retries, skips or binds with IP_FREEBIND, and when.
@Suite struct MetricsListenPolicyTests {
    static let rb = Node(name: "rb", heartbeatAddresses: [IPAddress("10.99.0.2")!, IPAddress("10.98.0.2")!], priority: 90,
                         trackInterfaces: [])
    static let vips: Set<IPAddress> = [IPAddress("10.99.0.10")!]

    @Test(arguments: [
        ("10.99.0.10", MetricsListenPolicy.Owner.vip),
        ("10.99.0.2", .otherNode("rb")),
        ("10.98.0.2", .otherNode("rb")),
        // ra's own, a wildcard, loopback and an address the config does not place: this node's.
        ("10.99.0.1", .thisNode),
        ("0.0.0.0", .thisNode),
        ("::1", .thisNode),
        ("192.0.2.7", .thisNode),
    ])
    func owners(address: String, owner: MetricsListenPolicy.Owner) {
        #expect(MetricsListenPolicy.owner(of: IPAddress(address)!, vips: Self.vips, otherNodes: [Self.rb]) == owner)
    }

    /// The other router's address is skipped at once; every other endpoint is retried 1 s after
    /// the first failure, then 2, 4, 8 and at most 10 s apart (the boot race of trial 34).
    @Test func retrySchedule() {
        #expect(MetricsListenPolicy.afterFailure(owner: .otherNode("rb"), failures: 1) == .skip)
        for owner in [MetricsListenPolicy.Owner.thisNode, .vip] {
            let delays = (1...7).map { MetricsListenPolicy.afterFailure(owner: owner, failures: $0) }
            #expect(delays == [1, 2, 4, 8, 10, 10, 10].map { .retry(after: .seconds($0)) })
        }
        #expect(MetricsListenPolicy.afterFailure(owner: .thisNode, failures: 10_000) == .retry(after: .seconds(10)))
    }

    @Test func reasons() {
        #expect(MetricsListenPolicy.reason(error: "Cannot assign requested address (errno 99)", addressNotAvailable: true)
                == "not an address of this node yet (Cannot assign requested address (errno 99)); tandemd binds it within 10 s of it appearing")
        #expect(MetricsListenPolicy.reason(error: "Address already in use (errno 98)", addressNotAvailable: false)
                == "Address already in use (errno 98); tandemd tries again every 10 s at most")
    }

    /// What status reads: an endpoint is listed from its failure until it is served.
    @Test func stateListsEndpointsUntilServed() throws {
        let state = MetricsListenState()
        let v4 = try ServerEndpoint.parse("10.99.0.2:9539"), v6 = try ServerEndpoint.parse("[fd00::2]:9539")
        #expect(state.notListening.isEmpty)
        state.notServed(v6, reason: "b")
        state.notServed(v4, reason: "a")
        #expect(state.notListening == [.init(listen: "10.99.0.2:9539", reason: "a"), .init(listen: "[fd00::2]:9539", reason: "b")])
        state.served(v4)
        #expect(state.notListening == [.init(listen: "[fd00::2]:9539", reason: "b")])
    }
}
