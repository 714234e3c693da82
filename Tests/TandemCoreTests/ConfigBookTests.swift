import Testing
@testable import TandemCore

/// The rules of `ConfigBook` (config replication's decisions), one row each.
@Suite struct ConfigBookTests {
    static func version(_ serial: UInt64, _ digestByte: UInt8) -> ConfigVersion {
        ConfigVersion(serial: serial, digest: HeartbeatMessage.ConfigDigest([UInt8](repeating: digestByte, count: 32))!)
    }

    /// A changed config reloaded by an operator must carry a serial above the one in force and
    /// above the live peer's; the refusal gives the serial to write. Unchanged is always fine.
    @Test func aReloadsSerialMustRiseAboveTheRunningAndThePeers() {
        let v = Self.version
        func problem(_ fresh: ConfigVersion, peer: ConfigVersion? = nil, mirrors: Bool = true) -> String? {
            ConfigBook.serialProblem(running: v(3, 1), fresh: fresh, peer: peer, peerName: "rb", mirrors: mirrors)
        }
        #expect(problem(v(3, 1)) == nil)
        #expect(problem(v(4, 2)) == nil)
        #expect(problem(v(4, 2), peer: v(3, 1)) == nil)
        #expect(problem(v(4, 2), peer: v(4, 2)) == nil, "the peer's own config, fetched: not a conflict")
        #expect(problem(v(1, 2)) == "the file's serial 1 is below the serial in force (3): rb would keep serial 3, and rb's copy of "
            + "serial 3 would be fetched back over it; raise serial to 4 (every change needs a higher serial: the higher one wins between the nodes)")
        #expect(problem(v(1, 2), mirrors: false)?.hasPrefix("the file's serial 1 is below the serial in force (3): rb would keep serial 3; raise serial to 4") == true)
        #expect(problem(v(3, 2))?.hasPrefix("the config changed but its serial (3) did not: the two nodes would run different configs under one serial") == true)
        #expect(problem(v(4, 2), peer: v(5, 7)) == "rb runs serial 5, above the file's 4: its config would be fetched back over this one; "
            + "raise serial to 6 (every change needs a higher serial: the higher one wins between the nodes)")
        #expect(problem(v(4, 2), peer: v(4, 7))?.hasPrefix("rb already runs serial 4 with other contents") == true)
        #expect(problem(v(4, 2), peer: v(4, 7))?.contains("raise serial to 5") == true)
    }
    static let t0 = MonotonicInstant.milliseconds(1000)
    static let mine = version(3, 0xaa)
    static let higher = version(4, 0xbb)

    /// A book that runs `mine` and was asked to fetch `higher`.
    static func fetching() -> ConfigBook {
        var book = ConfigBook(running: mine, replicates: true)
        #expect(book.peerHeard(higher, at: t0) == [.fetch(higher)])
        return book
    }

    static func fetched(_ content: ConfigBook.Fetched, sentAs: ConfigVersion = higher) -> (ConfigBook, [ConfigBook.Step]) {
        var book = fetching()
        let steps = book.fetched(content, sentAs: sentAs, nodeName: "a", peerName: "b", at: t0 + .milliseconds(5))
        return (book, steps)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var content: ConfigBook.Fetched
        /// The start of the refusal reason, or nil when the config is written.
        var refusal: String?
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "a valid, higher config naming this node is written", content: .config(higher, bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"), refusal: nil),
        Row(name: "too large", content: .config(higher, bytes: PeerFrame.maximumConfigBytes + 1, nodes: ["a", "b"], peerOfThisNode: "b"), refusal: "it is "),
        Row(name: "invalid text", content: .invalid(bytes: 10, reason: "line 3: bad"), refusal: "it is invalid: line 3: bad"),
        Row(name: "does not name this node", content: .config(higher, bytes: 100, nodes: ["x", "b"], peerOfThisNode: nil), refusal: "it does not name this node (a)"),
        Row(name: "pairs this node with another peer", content: .config(higher, bytes: 100, nodes: ["a", "c"], peerOfThisNode: "c"), refusal: "its peer of a is not b"),
    ]

    @Test(arguments: rows) func aFetchedConfigIsWrittenOrRefusedWhole(_ row: Row) {
        let (book, steps) = Self.fetched(row.content)
        if let refusal = row.refusal {
            guard case .refused(let serial, let reason)? = steps.first, steps.count == 1 else {
                Issue.record("expected one refusal, got \(steps)")
                return
            }
            #expect(serial == 4)
            #expect(reason.hasPrefix(refusal), "\(reason)")
            #expect(book.running == Self.mine && book.prepared == nil, "nothing changes")
        } else {
            #expect(steps == [.write(Self.higher)])
            #expect(book.prepared == Self.higher && book.running == Self.mine)
        }
    }

    /// A text whose digest is not the one the peer announced: its config changed between the
    /// heartbeat and the fetch (two quick reloads). A failure to retry, not a refusal (an
    /// operator read the refusal, logged as an error, for a race that healed itself).
    @Test func aConfigThatChangedWhileFetchedIsFetchedAgain() {
        let (book, steps) = Self.fetched(.config(Self.version(4, 0xcc), bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"))
        guard case .failed(let serial, let reason)? = steps.first, steps.count == 1 else {
            Issue.record("expected one failure, got \(steps)")
            return
        }
        #expect(serial == 4 && reason.hasPrefix("it changed on b while being fetched (digest "), "\(reason)")
        #expect(book.running == Self.mine && book.prepared == nil, "nothing changes")
    }

    @Test func aSerialNotHigherIsRefusedAndAnEqualConfigIsDone() {
        var book = ConfigBook(running: Self.mine, replicates: true)
        _ = book.peerHeard(Self.higher, at: Self.t0)
        // The peer lowered its serial by the time we fetched: its text says serial 2.
        let lower = Self.version(2, 0xdd)
        let steps = book.fetched(.config(lower, bytes: 10, nodes: ["a", "b"], peerOfThisNode: "b"), sentAs: lower, nodeName: "a", peerName: "b", at: Self.t0)
        #expect(steps == [.refused(serial: 2, reason: "its serial is not higher than this node's (3)")])

        var same = ConfigBook(running: Self.mine, replicates: true)
        _ = same.peerHeard(Self.higher, at: Self.t0)
        #expect(same.fetched(.config(Self.mine, bytes: 10, nodes: ["a", "b"], peerOfThisNode: "b"), sentAs: Self.mine, nodeName: "a", peerName: "b", at: Self.t0) == [])
    }

    @Test func writtenThenReloadedIsApplied() {
        var (book, _) = Self.fetched(.config(Self.higher, bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"))
        #expect(book.written(Self.higher, failure: nil, at: Self.t0 + .milliseconds(10)) == [.reload(Self.higher)])
        #expect(book.loaded(Self.higher, at: Self.t0 + .milliseconds(20)) == [.applied(Self.higher, milliseconds: 20)])
        #expect(book.running == Self.higher && book.prepared == nil)
        #expect(book.peerHeard(Self.higher, at: Self.t0 + .milliseconds(30)) == [], "in sync: nothing to fetch")
    }

    @Test func aFailedWriteIsRetriedAfterABackOffAndAFailedReloadIsNotFetchedAgain() {
        var (book, _) = Self.fetched(.config(Self.higher, bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"))
        #expect(book.written(Self.higher, failure: "ENOSPC", at: Self.t0) == [.failed(serial: 4, reason: "write failed: ENOSPC")])
        #expect(book.peerHeard(Self.higher, at: Self.t0 + .milliseconds(100)) == [], "within the back-off")
        #expect(book.peerHeard(Self.higher, at: Self.t0 + .milliseconds(600)) == [.fetch(Self.higher)])
        _ = book.fetched(.config(Self.higher, bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"), sentAs: Self.higher, nodeName: "a", peerName: "b", at: Self.t0 + .milliseconds(600))
        _ = book.written(Self.higher, failure: nil, at: Self.t0 + .milliseconds(600))
        let steps = book.reloadFailed("line 2: unknown key", at: Self.t0 + .milliseconds(700))
        guard case .refused(4, let reason)? = steps.first else { Issue.record("\(steps)"); return }
        #expect(reason.contains("line 2: unknown key"))
        #expect(Array(steps.dropFirst()) == [.restoreFile(Self.higher)], "the file goes back as it was")
        #expect(book.running == Self.mine, "the config in force stays")
        #expect(book.peerHeard(Self.higher, at: Self.t0 + .seconds(60)) == [], "the same version is not fetched again")
        #expect(book.peerHeard(Self.version(5, 0xee), at: Self.t0 + .seconds(61)) == [.fetch(Self.version(5, 0xee))], "a new one is")
    }

    @Test func nothingIsFetchedWhileOneIsPreparedOrWithoutAuthentication() {
        var (book, _) = Self.fetched(.config(Self.higher, bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"))
        #expect(book.peerHeard(Self.version(9, 0x99), at: Self.t0 + .seconds(10)) == [])
        var open = ConfigBook(running: Self.mine, replicates: false)
        #expect(open.peerHeard(Self.higher, at: Self.t0) == [])
    }

    @Test func aConflictIsReportedOnceAndItsResolution() {
        var book = ConfigBook(running: Self.mine, replicates: true)
        let rival = Self.version(3, 0x11)
        #expect(book.peerHeard(rival, at: Self.t0) == [.conflictDetected(local: Self.mine, peer: rival)])
        #expect(book.peerHeard(rival, at: Self.t0 + .seconds(1)) == [])
        #expect(book.loaded(Self.higher, at: Self.t0 + .seconds(2)) == [])
        #expect(book.peerHeard(rival, at: Self.t0 + .seconds(3)) == [.conflictResolved])
    }

    /// Found by the simulator: an operator's reload between the write and the replication's reload
    /// used to be a refusal, remembered, so the peer's higher version was never fetched again.
    @Test func aReloadOfAnotherVersionWhilePreparedIsRetriedNotRefused() {
        var (book, _) = Self.fetched(.config(Self.higher, bytes: 100, nodes: ["a", "b"], peerOfThisNode: "b"))
        _ = book.written(Self.higher, failure: nil, at: Self.t0)
        let edited = Self.version(3, 0x77)
        guard case .failed(4, _)? = book.loaded(edited, at: Self.t0).first else { Issue.record("expected a failure"); return }
        #expect(book.running == edited)
        #expect(book.peerHeard(Self.higher, at: Self.t0 + .seconds(1)) == [.fetch(Self.higher)], "fetched again after the back-off")
    }
}
