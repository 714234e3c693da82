import Foundation
import Glibc
import Synchronization
import Testing
import TandemCore
@testable import TandemKernel

/// A value set once on another thread and read after it finished.
private final class Outcome<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    func set(_ v: T) { value.withLock { $0 = v } }
    var get: T? { value.withLock { $0 } }
}

/// CLONE_NEWNET (include/uapi/linux/sched.h).
private let cloneNewNetwork: Int32 = 0x4000_0000

/// glibc's `unshare` and `gettid`, which Swift's Glibc module does not declare (they need
/// _GNU_SOURCE), looked up by name.
private func glibc<F>(_ name: String, as type: F.Type) -> F? {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}
private typealias UnshareFunction = @convention(c) (Int32) -> Int32
private typealias GettidFunction = @convention(c) () -> Int32

/// Runs `body` on a thread of its own that has moved to a new, empty network namespace
/// (`unshare(CLONE_NEWNET)` moves only the calling thread), so nothing it does reaches the host's
/// routes. `body` gets the argument vector that runs `ip` in that namespace (nsenter into the
/// thread's namespace), an independent view. Nil when the namespace cannot be made (not root).
private func inPrivateNetworkNamespace<T: Sendable>(_ body: @escaping @Sendable (_ ip: [String]) throws -> T) -> Result<T, any Error>? {
    let outcome = Outcome<Result<T, any Error>?>()
    let finished = DispatchSemaphore(value: 0)
    let thread = Thread {
        defer { finished.signal() }
        guard let unshare = glibc("unshare", as: UnshareFunction.self), let gettid = glibc("gettid", as: GettidFunction.self),
              unshare(cloneNewNetwork) == 0 else {
            outcome.set(nil)
            return
        }
        let ip = ["/usr/bin/nsenter", "--net=/proc/\(getpid())/task/\(gettid())/ns/net", "ip"]
        outcome.set(Result { try body(ip) })
    }
    thread.start()
    finished.wait()
    return outcome.get ?? nil
}

/// Runs a program (through the project's own spawner: Foundation's Process waits forever for a
/// child under the test runner) and returns what it printed; throws when it fails.
private func output(_ argv: [String]) throws -> String {
    struct Failed: Error { let argv: [String]; let outcome: String }
    let outcome = SpawnChildRunner().run(ChildRequest(arguments: argv, timeout: .seconds(10), outputLimit: 1 << 20))
    guard outcome.succeeded else { throw Failed(argv: argv, outcome: "\(outcome): \(outcome.outputLine() ?? "")") }
    return String(decoding: outcome.output, as: UTF8.self)
}

/// `dst type protocol` of each route of `table` as `ip -j route show` lists them (ip omits the
/// default type, unicast, and the default protocol, boot).
private func listed(_ ip: [String], family: String, table: UInt32) throws -> [String] {
    let argv = ip + ["-j", family, "route", "show", "table", "\(table)"]
    let outcome = SpawnChildRunner().run(ChildRequest(arguments: argv, timeout: .seconds(10), outputLimit: 1 << 20))
    // A table without routes does not exist for the kernel: "FIB table does not exist".
    if !outcome.succeeded, outcome.outputLine()?.contains("does not exist") == true { return [] }
    let text = try output(argv)
    let rows = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
    return rows.map { row in
        "\(row["dst"] ?? "?") \(row["type"] ?? "unicast") \(row["protocol"].map { "\($0)" } ?? "boot")"
    }.sorted()
}

/// The live route table against the kernel, in a private network namespace, asserted with `ip`.
/// Runs only as root (CI and integration/test-all run the unit tests as root).
@Suite struct LiveAnnouncedRoutesTests {
    struct Observed: Sendable {
        var changes: [String] = []
        var afterAdding4: [String] = []
        var afterAdding6: [String] = []
        var dumped: Set<ClusterRoute> = []
        var afterRemoving4: [String] = []
        var afterRemoving6: [String] = []
        var badDevice = ""
    }

    @Test(.enabled(if: geteuid() == 0, "needs root for a network namespace"))
    func addRemoveAndListInATableAbove255() throws {
        let table: UInt32 = 70000
        let own4 = ClusterRoute.announcement(of: IPAddress("10.0.5.10")!, protocol: 250)
        let own6 = ClusterRoute.announcement(of: IPAddress("fd00::10")!, protocol: 250)
        let foreign = ClusterRoute(destination: IPPrefix("10.0.9.0/24")!, kind: .blackhole, protocolNumber: 4)
        let result = inPrivateNetworkNamespace { ip -> Observed in
            _ = try output(ip + ["link", "set", "lo", "up"])
            let routes = try LiveAnnouncedRoutes(table: table)
            var seen = Observed()
            func note(_ change: RouteChange) { seen.changes.append(change.rawValue) }
            note(try routes.add(own4))
            note(try routes.add(own4))
            note(try routes.add(own6))
            note(try routes.add(foreign))
            seen.afterAdding4 = try listed(ip, family: "-4", table: table)
            seen.afterAdding6 = try listed(ip, family: "-6", table: table)
            seen.dumped = Set(try routes.routes())
            // The foreign route's destination and type, with Tandem's protocol: no match, kept.
            note(try routes.remove(ClusterRoute(destination: foreign.destination, kind: .blackhole, protocolNumber: 250)))
            note(try routes.remove(own4))
            note(try routes.remove(own4))
            note(try routes.remove(own6))
            seen.afterRemoving4 = try listed(ip, family: "-4", table: table)
            seen.afterRemoving6 = try listed(ip, family: "-6", table: table)
            do {
                _ = try routes.add(ClusterRoute(destination: IPPrefix("10.0.6.1/32")!, kind: .unicast(interfaceIndex: 9999), protocolNumber: 250))
            } catch {
                seen.badDevice = "\(error)"
            }
            return seen
        }
        guard let result else {
            Issue.record("root, yet no network namespace could be made")
            return
        }
        let seen = try result.get()
        #expect(seen.changes == ["added", "alreadyPresent", "added", "added", "alreadyAbsent", "removed", "alreadyAbsent", "removed"])
        #expect(seen.afterAdding4 == ["10.0.5.10 blackhole 250", "10.0.9.0/24 blackhole static"])
        #expect(seen.afterAdding6 == ["fd00::10 blackhole 250"])
        #expect(seen.dumped == [own4, own6, foreign])
        #expect(seen.afterRemoving4 == ["10.0.9.0/24 blackhole static"])
        #expect(seen.afterRemoving6 == [])
        #expect(seen.badDevice == "add route unicast 10.0.6.1/32 dev #9999 proto 250 table 70000 failed: No such device (ENODEV); the route's interface does not exist in this network namespace")
    }
}
