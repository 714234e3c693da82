import Foundation
import Testing
@testable import TandemCore

@Suite struct KeyFilePermissionsTests {
    @Test(arguments: [
        (UInt32(0o100600), UInt32(0), UInt32(0), nil as String?),
        (0o100400, 0, 0, nil),
        (0o100600, 1000, 1000, nil),
        (0o100600, 0, 1000, nil),
        (0o100644, 0, 0, "heartbeat key file /etc/tandem/k has mode 0644, so its group or other users can read the pair's key: run `chmod 600 /etc/tandem/k`"),
        (0o100640, 0, 0, "heartbeat key file /etc/tandem/k has mode 0640, so its group or other users can read the pair's key: run `chmod 600 /etc/tandem/k`"),
        (0o100604, 0, 0, "heartbeat key file /etc/tandem/k has mode 0604, so its group or other users can read the pair's key: run `chmod 600 /etc/tandem/k`"),
        (0o100600, 1000, 0, "heartbeat key file /etc/tandem/k is owned by uid 1000, not by uid 0 that tandemd runs as: another user could change the pair's key; run `chown 0 /etc/tandem/k`"),
    ])
    func keyFileHygiene(mode: UInt32, owner: UInt32, runningAs: UInt32, expected: String?) {
        #expect(KeyFilePermissions.problem(path: "/etc/tandem/k", mode: mode, owner: owner, runningAs: runningAs) == expected)
    }
}

@Suite struct KeyFileLoadingTests {
    static let settings = HeartbeatSettings(interval: .seconds(1), deadTime: .seconds(3), authentication: .hmacSHA256(keyFile: "/etc/tandem/k"))
    static func read(_ path: String) throws -> Data { Data(repeating: 7, count: 32) }

    @Test func tandemdRefusesAKeyOthersCanReadAndCheckConfigWarns() throws {
        do {
            _ = try HeartbeatKeySet.load(Self.settings, read: Self.read, ownership: { _ in (0o100644, 0) }, runningAs: 0)
            Issue.record("a key readable by others was accepted")
        } catch {
            #expect(error.description == "heartbeat key file /etc/tandem/k has mode 0644, so its group or other users can read the pair's key: run `chmod 600 /etc/tandem/k`")
        }
        #expect(try HeartbeatKeySet.load(Self.settings, read: Self.read, ownership: { _ in (0o100600, 0) }, runningAs: 0) != nil)
        #expect(try HeartbeatKeySet.load(Self.settings, read: Self.read, ownership: { _ in nil }, runningAs: 0) != nil)
        let checked = HeartbeatKeySet.check(Self.settings, read: Self.read, ownership: { _ in (0o100640, 0) })
        #expect(checked.errors.isEmpty)
        #expect(checked.warnings == ["heartbeat.key_file: heartbeat key file /etc/tandem/k has mode 0640, so its group or other users can read the pair's key: run `chmod 600 /etc/tandem/k`; tandemd refuses to start with it"])
    }
}
