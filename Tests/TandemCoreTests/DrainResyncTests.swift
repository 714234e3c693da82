import Testing
import TandemCore

/// Peer liveness and offer outcomes over a manual clock (milliseconds) → when a node offers its
/// drain list.
struct DrainResyncTests {
    enum Step: Sendable, CustomStringConvertible {
        /// A poll at `t` seeing the peer alive or not; the expected answer.
        case poll(UInt64, alive: Bool, offer: Bool)
        /// The outcome of the offer just made.
        case outcome(UInt64, ok: Bool)
        var description: String {
            switch self {
            case .poll(let t, let alive, let offer): return "poll@\(t) alive=\(alive) → offer=\(offer)"
            case .outcome(let t, let ok): return "outcome@\(t) ok=\(ok)"
            }
        }
    }

    static let cases: [(String, [Step])] = [
        ("the peer never heard: no offer",
         [.poll(0, alive: false, offer: false), .poll(200, alive: false, offer: false)]),
        ("the peer heard at start: one offer, then quiet once acknowledged",
         [.poll(0, alive: true, offer: true), .outcome(5, ok: true), .poll(200, alive: true, offer: false),
          .poll(400, alive: true, offer: false)]),
        ("the peer comes back after being dead: offered again",
         [.poll(0, alive: true, offer: true), .outcome(5, ok: true), .poll(200, alive: false, offer: false),
          .poll(400, alive: true, offer: true), .outcome(405, ok: true), .poll(600, alive: true, offer: false)]),
        ("a failed offer is retried after 1 s, then 2 s, then 4 s",
         [.poll(0, alive: true, offer: true), .outcome(10, ok: false),
          .poll(200, alive: true, offer: false), .poll(1009, alive: true, offer: false),
          .poll(1010, alive: true, offer: true), .outcome(1010, ok: false),
          .poll(2500, alive: true, offer: false), .poll(3010, alive: true, offer: true), .outcome(3010, ok: false),
          .poll(7000, alive: true, offer: false), .poll(7010, alive: true, offer: true), .outcome(7010, ok: true),
          .poll(20000, alive: true, offer: false)]),
        ("losing the peer cancels the retry; its return offers at once with a fresh back-off",
         [.poll(0, alive: true, offer: true), .outcome(0, ok: false), .poll(500, alive: false, offer: false),
          .poll(2000, alive: false, offer: false), .poll(2200, alive: true, offer: true), .outcome(2200, ok: false),
          .poll(3199, alive: true, offer: false), .poll(3200, alive: true, offer: true)]),
    ]

    @Test(arguments: cases)
    func schedule(_ name: String, _ steps: [Step]) {
        var resync = DrainResync()
        for step in steps {
            switch step {
            case .poll(let t, let alive, let offer):
                let offered = resync.observe(peerAlive: alive, at: .milliseconds(t))
                #expect(offered == offer, "\(name): \(step)")
            case .outcome(let t, let ok):
                resync.offered(succeeded: ok, at: .milliseconds(t))
            }
        }
    }

    @Test func backOffStopsGrowingAtSixtySeconds() {
        var resync = DrainResync()
        var t: UInt64 = 0
        let first = resync.observe(peerAlive: true, at: .milliseconds(t))
        #expect(first)
        var waits: [UInt64] = []
        for _ in 0..<9 {
            resync.offered(succeeded: false, at: .milliseconds(t))
            var next = t + 1
            while !resync.observe(peerAlive: true, at: .milliseconds(next)) { next += 1000 }
            waits.append((next - t) / 1000 * 1000)
            t = next
        }
        #expect(waits == [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000])
    }

    @Test func onlyAStrictlyNewerListIsSentBack() {
        #expect(DrainResync.shouldAnswer(received: 5, ours: 6))
        #expect(!DrainResync.shouldAnswer(received: 6, ours: 6))
        #expect(!DrainResync.shouldAnswer(received: 7, ours: 6))
        #expect(!DrainResync.shouldAnswer(received: 0, ours: 0))
    }
}
