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
}
