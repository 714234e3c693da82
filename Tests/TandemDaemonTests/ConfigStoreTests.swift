import Foundation
import Testing
import TandemCore
@testable import TandemDaemon

@Suite struct ConfigStoreTests {
    let valid = """
    serial: 1
    nodes: [{name: a, addresses: [10.0.0.1]}, {name: b, addresses: [10.0.0.2]}]
    heartbeat: {auth: none}
    virtual_ips: [{address: 10.0.0.10/24, interface: eth0}]
    """

    func withFile(_ body: (String) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "tandem-store-\(UUID().uuidString).yaml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    @Test func badReloadKeepsTheRunningConfig() throws {
        try withFile { path in
            try valid.write(toFile: path, atomically: true, encoding: .utf8)
            var store = try ConfigStore(path: path)
            let before = store.current
            try "serial: 2\nnodes: [".write(toFile: path, atomically: true, encoding: .utf8)
            guard case .rejected(let error) = store.reload() else {
                Issue.record("an invalid file was accepted")
                return
            }
            #expect(error.description.contains("is not valid YAML"))
            #expect(store.current == before)
        }
    }

    @Test func aReloadCannotSwitchBetweenPairAndCluster() throws {
        try withFile { path in
            try valid.write(toFile: path, atomically: true, encoding: .utf8)
            var store = try ConfigStore(path: path)
            let before = store.current
            try """
            serial: 2
            nodes: [{name: a, addresses: [10.0.0.1]}, {name: b, addresses: [10.0.0.2]}]
            heartbeat: {auth: none}
            cluster: {bgp: {local_as: 65010, peers: [{address: 10.0.0.254, as: 65000}]}}
            virtual_ips: [{address: 10.0.0.10/32}]
            """.write(toFile: path, atomically: true, encoding: .utf8)
            guard case .rejected(let error) = store.reload() else {
                Issue.record("a reload switched a pair to a cluster")
                return
            }
            #expect(error.description == "\(path): cluster: switches this node from a pair to a cluster: a reload cannot change the mode; restart tandemd to switch (the running config stays)")
            #expect(store.current == before)
        }
    }

    @Test func goodReloadReplacesAndUnchangedIsReported() throws {
        try withFile { path in
            try valid.write(toFile: path, atomically: true, encoding: .utf8)
            var store = try ConfigStore(path: path)
            try ("# comment only changes layout\n" + valid).write(toFile: path, atomically: true, encoding: .utf8)
            #expect(store.reload() == .unchanged)
            let old = store.current.digest
            try valid.replacingOccurrences(of: "serial: 1", with: "serial: 2").write(toFile: path, atomically: true, encoding: .utf8)
            #expect(store.reload() == .replaced(oldDigest: old, newDigest: store.current.digest))
            #expect(store.current.serial == 2)
        }
    }

    @Test func theTextInForceIsKeptAndABadReloadKeepsIt() throws {
        try withFile { path in
            try valid.write(toFile: path, atomically: true, encoding: .utf8)
            var store = try ConfigStore(path: path)
            #expect(store.text == valid)
            #expect(store.digest == store.current.digest)
            try "serial: 2\nnodes: [".write(toFile: path, atomically: true, encoding: .utf8)
            _ = store.reload()
            #expect(store.text == valid)
            let commented = "# a comment\n" + valid
            try commented.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(store.reload() == .unchanged)
            #expect(store.text == commented)
        }
    }

    @Test func aStagedConfigIsTakenOnlyForExactlyItsText() throws {
        try withFile { path in
            try valid.write(toFile: path, atomically: true, encoding: .utf8)
            var store = try ConfigStore(path: path)
            let next = valid.replacingOccurrences(of: "serial: 1", with: "serial: 2")
            let other = try ConfigParser.parse(yaml: valid.replacingOccurrences(of: "serial: 1", with: "serial: 9"))
            // Staged under the next text: a reload of exactly that text takes the staged value.
            store.stage(text: next, config: other, digest: other.digest)
            try next.write(toFile: path, atomically: true, encoding: .utf8)
            #expect(store.reload() == .replaced(oldDigest: try ConfigParser.parse(yaml: valid).digest, newDigest: other.digest))
            #expect(store.current.serial == 9)
            #expect(store.text == next)
            // Staged under a text that is not what the file holds: the file is parsed.
            store.stage(text: "something else", config: other, digest: "x")
            try valid.write(toFile: path, atomically: true, encoding: .utf8)
            _ = store.reload()
            #expect(store.current.serial == 1)
        }
    }
}
