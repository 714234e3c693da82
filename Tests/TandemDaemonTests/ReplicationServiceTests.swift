import Foundation
import Logging
import Testing
import TandemCore
import TandemKernel
@testable import TandemDaemon

/// Two (or three) replication services on loopback addresses (127.0.0.1 is ra, 127.0.0.2 is
/// rb), each with its own config file and store; each one's view of the peer's version is read
/// from the other's store, as heartbeats would carry it.
@Suite(.serialized) struct ReplicationServiceTests {
    /// One node: its config file and store, its replication service, and its `ConfigBook` (the
    /// decisions `NodeState` takes in tandemd), run here by `poll()` and the service's answers.
    final class Node: Sendable {
        let name: String
        let peer: String
        let path: String
        let store: LockedBox<ConfigStore>
        let book: LockedBox<ConfigBook>
        private let serviceBox = LockedBox<ReplicationService?>(nil)
        let peerVersion: @Sendable () -> ConfigVersion?
        var service: ReplicationService { serviceBox.withLock { $0! } }
        /// Set: this node's reloads refuse every file for this reason (tandemd's own checks of
        /// this router, such as a VIP interface it lacks, which `check-config` cannot make).
        let reloadRefusal = LockedBox<String?>(nil)

        /// `storeText`: serve the store's text, as tandemd does; false: the service reads and checks the file.
        init(name: String, peer: String, local: String, peerAddress: String, port: UInt16, dir: String, key: HeartbeatKey?,
             text: String, storeText: Bool = true, peerVersion: @escaping @Sendable () -> ConfigVersion?) throws {
            self.name = name
            self.peer = peer
            self.peerVersion = peerVersion
            path = dir + "/\(name).yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let store = LockedBox(try ConfigStore(path: path))
            self.store = store
            book = LockedBox(ConfigBook(running: store.withLock { ConfigVersion($0.current) }, replicates: key != nil))
            let settings = ReplicationSettings(nodeName: name, peerName: peer,
                                               paths: [HeartbeatPath(index: 0, local: IPAddress(local)!, peer: IPAddress(peerAddress)!)],
                                               port: port, configPath: path)
            var logger = Logger(label: "test-\(name)")
            logger.logLevel = .critical
            serviceBox.withLock { box in
                box = ReplicationService(
                    settings: settings, key: key, localVersion: { store.withLock { ConfigVersion($0.current) } },
                    reload: { [unowned self] in
                        if let why = reloadRefusal.withLock({ $0 }) {
                            self.handle(.reloadFailed(why))
                            return
                        }
                        switch store.withLock({ $0.reload() }) {
                        case .rejected(let error): self.handle(.reloadFailed("\(error)"))
                        case .unchanged, .replaced: self.handle(.configLoaded(self.version))
                        }
                    },
                    inForce: {
                        guard storeText else { return nil }
                        return store.withLock { s in s.text.map { ConfigSnapshot(text: $0, serial: s.current.serial, digest: s.digest) } }
                    },
                    stage: { snapshot, config in
                        if storeText { store.withLock { $0.stage(text: snapshot.text, config: config, digest: snapshot.digest) } }
                    },
                    answer: { [unowned self] event in self.handle(event) }, logger: logger)
            }
        }

        /// What a heartbeat from the peer would carry: its version now.
        func poll() {
            guard let peer = peerVersion() else { return }
            carryOut(book.withLock { $0.peerHeard(peer, at: MonotonicClock().now()) })
        }

        /// As `NodeState` does with the service's answers and an operator's reload.
        func handle(_ event: NodeEvent) {
            let now = MonotonicClock().now()
            let steps: [ConfigBook.Step] = book.withLock { book in
                switch event {
                case .peerConfigFetched(let fetched, let sentAs):
                    return book.fetched(fetched, sentAs: sentAs, nodeName: name, peerName: peer, at: now)
                case .configWritten(let version, let failure): return book.written(version, failure: failure, at: now)
                case .configLoaded(let version): return book.loaded(version, at: now)
                case .reloadFailed(let why): return book.reloadFailed(why, at: now)
                default: return []
                }
            }
            carryOut(steps)
        }

        private func carryOut(_ steps: [ConfigBook.Step]) {
            for step in steps {
                switch step {
                case .fetch(let version): service.fetch(version)
                case .write(let version): service.write(version)
                case .reload: service.reload()
                case .restoreFile(let version): service.restore(version)
                case .applied(let version, _): service.record(serial: version.serial, result: "applied", succeeded: true)
                case .refused(let serial, let reason): service.record(serial: serial, result: "refused: \(reason)", succeeded: false)
                case .failed(let serial, let reason): service.record(serial: serial, result: reason, succeeded: false)
                case .conflictDetected(let local, let peer): service.conflict(local: local, peer: peer)
                case .conflictResolved: service.conflict(local: nil, peer: nil)
                }
            }
        }

        /// An operator's reload on this node (SIGHUP).
        func operatorReload() {
            _ = store.withLock { $0.reload() }
            handle(.configLoaded(version))
        }

        var version: ConfigVersion { store.withLock { ConfigVersion($0.current) } }
        var fileText: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    }

    static func config(serial: Int, vips: [String] = ["10.0.0.10/24"], keyFile: String, comment: String = "") -> String {
        """
        # \(comment)
        serial: \(serial)
        nodes:
          - {name: ra, addresses: [127.0.0.1], priority: 100}
          - {name: rb, addresses: [127.0.0.2], priority: 90}
        heartbeat:
          key_file: \(keyFile)
        virtual_ips:
        \(vips.map { "  - {address: \($0), interface: eth0}" }.joined(separator: "\n"))

        """
    }

    struct Pair {
        let dir: String
        let keyFile: String
        let key: HeartbeatKey
        let port: UInt16
        let ra: Node
        let rb: Node
    }

    /// Runs `body` with two services running; stops them afterwards.
    func withPair(raText: ((String) -> String)? = nil, rbText: ((String) -> String)? = nil, storeText: Bool = true,
                  _ body: (Pair) async throws -> Void) async throws {
        let dir = NSTemporaryDirectory() + "tandem-repl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keyFile = dir + "/heartbeat.key"
        let keyBytes = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        try keyBytes.write(to: URL(fileURLWithPath: keyFile))
        let key = try HeartbeatKey(fileContents: keyBytes, path: keyFile)
        let port = UInt16.random(in: 30_000...60_000)
        let peers = LockedBox<[String: LockedBox<ConfigStore>]>([:])
        let view: @Sendable (String) -> ConfigVersion? = { name in
            peers.withLock { $0[name] }.map { store in store.withLock { ConfigVersion($0.current) } }
        }
        let ra = try Node(name: "ra", peer: "rb", local: "127.0.0.1", peerAddress: "127.0.0.2", port: port, dir: dir, key: key,
                          text: raText?(keyFile) ?? Self.config(serial: 1, keyFile: keyFile), storeText: storeText, peerVersion: { view("rb") })
        let rb = try Node(name: "rb", peer: "ra", local: "127.0.0.2", peerAddress: "127.0.0.1", port: port, dir: dir, key: key,
                          text: rbText?(keyFile) ?? Self.config(serial: 1, keyFile: keyFile), storeText: storeText, peerVersion: { view("ra") })
        peers.withLock { $0 = ["ra": ra.store, "rb": rb.store] }
        let task = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await ra.service.run() }
                group.addTask { try await rb.service.run() }
                group.addTask { try await Self.polling([ra, rb]) }
                try await group.waitForAll()
            }
        }
        defer { task.cancel() }
        try await Task.sleep(for: .milliseconds(200))  // listening
        try await body(Pair(dir: dir, keyFile: keyFile, key: key, port: port, ra: ra, rb: rb))
        task.cancel()
        _ = await task.result
    }

    /// Hands each node its peer's version every 20 ms, as heartbeats would.
    static func polling(_ nodes: [Node]) async throws {
        while !Task.isCancelled {
            for node in nodes { node.poll() }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Polls `condition` every 20 ms for at most `seconds` (generous: the whole test suite runs
    /// in parallel on small shared hosts; a passing condition returns at once).
    func eventually(_ seconds: Double = 20, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test(arguments: [true, false])
    func aHigherSerialIsFetchedWrittenAndReloaded(storeText: Bool) async throws {
        try await withPair(storeText: storeText) { p in
            let newText = Self.config(serial: 2, vips: ["10.0.0.10/24", "10.0.0.11/24"], keyFile: p.keyFile, comment: "edited on rb")
            try newText.write(toFile: p.rb.path, atomically: true, encoding: .utf8)
            p.rb.operatorReload()
            #expect(try await eventually { p.ra.version == p.rb.version })
            #expect(p.ra.fileText == newText)
            #expect(p.ra.store.withLock { $0.current.virtualIPs.count } == 2)
            #expect((try? String(contentsOfFile: p.ra.path + ".prev", encoding: .utf8)) == Self.config(serial: 1, keyFile: p.keyFile))
            let a = p.ra.service.status(), b = p.rb.service.status()
            #expect(a.fetches == 1)
            #expect(a.lastReplication?.direction == .fetched)
            #expect(a.lastReplication?.serial == 2)
            #expect(a.lastReplication?.result == "applied")
            #expect(b.serves == 1)
            #expect(b.lastReplication?.direction == .served)
            #expect(a.authenticationFailures == 0 && b.authenticationFailures == 0)
        }
    }

    @Test(arguments: [true, false])
    func anEditNotYetReloadedIsNotServed(storeText: Bool) async throws {
        try await withPair(rbText: { Self.config(serial: 2, keyFile: $0) }, storeText: storeText) { p in
            // rb runs serial 2; its file now holds an unreloaded serial-3 edit: ra gets serial 2.
            try Self.config(serial: 3, vips: ["10.0.0.99/24"], keyFile: p.keyFile).write(toFile: p.rb.path, atomically: true, encoding: .utf8)
            #expect(try await eventually { p.ra.version.serial == 2 })
            #expect(p.ra.version == p.rb.version)
            #expect(p.ra.fileText == Self.config(serial: 2, keyFile: p.keyFile))
        }
    }

    @Test func equalSerialsWithDifferentDigestsAreAConflictOnBothUntilOneRaisesItsSerial() async throws {
        try await withPair(raText: { Self.config(serial: 5, keyFile: $0, comment: "ra") },
                           rbText: { Self.config(serial: 5, vips: ["10.0.0.12/24"], keyFile: $0) }) { p in
            #expect(try await eventually { p.ra.service.status().conflict && p.rb.service.status().conflict })
            let a = p.ra.service.status()
            #expect(a.localDigest == p.ra.store.withLock { $0.current.digest })
            #expect(a.peerDigest == p.rb.store.withLock { $0.current.digest })
            try await Task.sleep(for: .milliseconds(500))
            #expect(p.ra.store.withLock { $0.current.virtualIPs.map(\.prefix.description) } == ["10.0.0.10/24"])
            #expect(a.fetches == 0)
            // Resolve: rb raises its serial; ra fetches it.
            let winner = Self.config(serial: 6, vips: ["10.0.0.12/24"], keyFile: p.keyFile)
            try winner.write(toFile: p.rb.path, atomically: true, encoding: .utf8)
            p.rb.operatorReload()
            #expect(try await eventually { p.ra.version == p.rb.version })
            #expect(try await eventually { !p.ra.service.status().conflict && !p.rb.service.status().conflict })
            #expect(p.ra.fileText == winner)
        }
    }

    @Test func anInvalidOrForeignConfigIsRefused() async throws {
        // rb's config (serial 2) names nodes ra2/rb: ra must not take it.
        try await withPair(rbText: { keyFile in
            Self.config(serial: 1, keyFile: keyFile)
        }) { p in
            let foreign = Self.config(serial: 2, keyFile: p.keyFile).replacingOccurrences(of: "name: ra,", with: "name: rx,")
            try foreign.write(toFile: p.rb.path, atomically: true, encoding: .utf8)
            p.rb.operatorReload()
            #expect(p.rb.version.serial == 2)
            #expect(try await eventually { p.ra.service.status().fetchFailures >= 1 })
            let status = p.ra.service.status()
            #expect(status.lastReplication?.succeeded == false)
            #expect(status.lastReplication?.result.contains("does not name this node (ra)") == true)
            #expect(p.ra.version.serial == 1)
            #expect(p.ra.fileText == Self.config(serial: 1, keyFile: p.keyFile))
        }
    }

    /// A config this router's reload refuses (operator trial of session 32: a VIP on an
    /// interface only the peer has) must not stay in its file: the next start would load it and
    /// the router would go to fault. The file goes back as it was; the refused one stays beside it.
    @Test func aConfigTheReloadRefusesDoesNotStayInTheFile() async throws {
        try await withPair { p in
            let mine = Self.config(serial: 1, keyFile: p.keyFile)
            // The daemon clears status's "the config file on disk was refused" on this call.
            let restored = LockedBox(0)
            p.ra.service.onFileRestored { restored.withLock { $0 += 1 } }
            p.ra.reloadRefusal.withLock { $0 = "virtual_ips[1]: interface vlan97 does not exist on ra" }
            let theirs = Self.config(serial: 2, vips: ["10.0.0.10/24", "10.0.0.11/24"], keyFile: p.keyFile, comment: "edited on rb")
            try theirs.write(toFile: p.rb.path, atomically: true, encoding: .utf8)
            p.rb.operatorReload()
            #expect(try await eventually { p.ra.service.status().lastReplication?.result.contains("vlan97") == true })
            #expect(p.ra.service.status().lastReplication?.result.hasPrefix("refused: the reload did not apply it") == true)
            #expect(p.ra.version.serial == 1, "the config in force stays")
            #expect(try await eventually { p.ra.fileText == mine }, "the file is back as it was")
            #expect((try? String(contentsOfFile: p.ra.path + ".refused", encoding: .utf8)) == theirs)
            #expect(restored.withLock { $0 } == 1)
            // Once this router can take it (the interface exists now), the next fetch applies it.
            p.ra.reloadRefusal.withLock { $0 = nil }
            let newer = Self.config(serial: 3, vips: ["10.0.0.10/24", "10.0.0.11/24"], keyFile: p.keyFile)
            try newer.write(toFile: p.rb.path, atomically: true, encoding: .utf8)
            p.rb.operatorReload()
            #expect(try await eventually { p.ra.version.serial == 3 })
            #expect(p.ra.fileText == newer)
        }
    }

    @Test func aPeerWithTheWrongKeyCannotFetchAndIsCounted() async throws {
        try await withPair(rbText: { Self.config(serial: 3, keyFile: $0) }) { p in
            let wrongKey = try HeartbeatKey(fileContents: Data(repeating: 0x77, count: 32), path: "wrong.key")
            try FileManager.default.createDirectory(atPath: p.dir + "/mallory", withIntermediateDirectories: true)
            let mallory = try Node(name: "ra", peer: "rb", local: "127.0.0.3", peerAddress: "127.0.0.2", port: p.port, dir: p.dir + "/mallory",
                                   key: wrongKey, text: Self.config(serial: 1, keyFile: p.keyFile) , peerVersion: { p.rb.version })
            let task = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await mallory.service.run() }
                    group.addTask { try await Self.polling([mallory]) }
                    try await group.waitForAll()
                }
            }
            defer { task.cancel() }
            #expect(try await eventually { p.rb.service.status().authenticationFailures >= 1 })
            #expect(try await eventually { mallory.service.status().authenticationFailures >= 1 })
            #expect(mallory.version.serial == 1)
            #expect(mallory.service.status().fetches == 0)
            #expect(mallory.service.status().lastReplication?.result.contains("authentication failed") == true)
            task.cancel()
            _ = await task.result
        }
    }

    @Test func withoutAKeyReplicationIsOffAndSaysWhy() throws {
        let settings = ReplicationSettings(nodeName: "ra", peerName: "rb", paths: [], port: 1, configPath: "/nonexistent")
        let service = ReplicationService(settings: settings, key: nil, localVersion: { ConfigVersion(serial: 1, digest: .zero) },
                                         reload: {}, answer: { _ in }, logger: Logger(label: "t"))
        let status = service.status()
        #expect(!status.enabled)
        #expect(status.disabledReason?.contains("auth: none") == true)
    }
}
