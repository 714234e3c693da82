import Testing
import TandemCore

/// Event sequences → actions, with a manual clock (milliseconds).
struct HealthDeliveryPacerTests {
    enum Event: Sendable, CustomStringConvertible {
        case changed(UInt64)
        case timer(UInt64)
        var description: String {
            switch self {
            case .changed(let t): return "changed@\(t)"
            case .timer(let t): return "timer@\(t)"
            }
        }
    }

    typealias A = HealthDeliveryPacer.Action

    static let cases: [(String, [Event], [A])] = [
        ("a lone change is delivered at once",
         [.changed(1000)], [.deliver]),
        ("changes further apart than the spacing are each delivered at once",
         [.changed(1000), .changed(1100), .changed(1350)], [.deliver, .deliver, .deliver]),
        ("a burst: first at once, the rest ride on one timer at the end of the spacing",
         [.changed(1000), .changed(1001), .changed(1050), .changed(1099), .timer(1100)],
         [.deliver, .scheduleDelivery(at: .milliseconds(1100)), .wait, .wait, .deliver]),
        ("a late timer delivers when it fires; the spacing counts from then",
         [.changed(1000), .changed(1010), .timer(1180), .changed(1200), .timer(1280)],
         [.deliver, .scheduleDelivery(at: .milliseconds(1100)), .deliver, .scheduleDelivery(at: .milliseconds(1280)), .deliver]),
        ("a long burst: one delivery per spacing",
         [.changed(0), .changed(10), .timer(100), .changed(120), .changed(150), .timer(200), .changed(201), .timer(300)],
         [.deliver, .scheduleDelivery(at: .milliseconds(100)), .deliver, .scheduleDelivery(at: .milliseconds(200)), .wait,
          .deliver, .scheduleDelivery(at: .milliseconds(300)), .deliver]),
        ("a timer that is not armed does nothing",
         [.timer(500), .changed(600)], [.wait, .deliver]),
        ("a change exactly one spacing after a delivery is delivered at once",
         [.changed(0), .changed(100)], [.deliver, .deliver]),
    ]

    @Test(arguments: cases)
    func sequence(_ name: String, _ events: [Event], _ expected: [A]) {
        var pacer = HealthDeliveryPacer(spacingMilliseconds: 100)
        let actions = events.map { event -> A in
            switch event {
            case .changed(let t): return pacer.changed(at: .milliseconds(t))
            case .timer(let t): return pacer.timerFired(at: .milliseconds(t))
            }
        }
        #expect(actions == expected, "\(name)")
    }

    /// However dense the changes, deliveries are never closer than the spacing, and the last
    /// change is always followed by a delivery (nothing is lost).
    @Test func denseChangesKeepTheSpacingAndEndDelivered() throws {
        var pacer = HealthDeliveryPacer(spacingMilliseconds: 100)
        var deliveries: [UInt64] = []
        var timer: UInt64?
        var lastChange: UInt64 = 0
        for t in stride(from: UInt64(0), through: 2000, by: 7) {
            if let due = timer, due <= t {
                if pacer.timerFired(at: .milliseconds(due)) == .deliver { deliveries.append(due) }
                timer = nil
            }
            lastChange = t
            switch pacer.changed(at: .milliseconds(t)) {
            case .deliver: deliveries.append(t)
            case .scheduleDelivery(let at): timer = at.nanoseconds / 1_000_000
            case .wait: break
            }
        }
        if let due = timer, pacer.timerFired(at: .milliseconds(due)) == .deliver { deliveries.append(due) }
        #expect(zip(deliveries, deliveries.dropFirst()).allSatisfy { $1 - $0 >= 100 })
        #expect(deliveries.count >= 20 && deliveries.count <= 21)
        #expect(try #require(deliveries.last) >= lastChange)
    }
}
