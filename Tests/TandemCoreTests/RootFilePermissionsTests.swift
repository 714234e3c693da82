import Testing
@testable import TandemCore

/// Trial 35: a world-writable or foreign-owned config file, and a notify program others could
/// write, were accepted without a word although tandemd runs what they name as root.
@Suite struct RootFilePermissionsTests {
    typealias Entry = RootFilePermissions.Entry
    static let file = 0o100000 as UInt32, directory = 0o040000 as UInt32
    static let root = [Entry(path: "/etc/tandem", mode: directory | 0o755, owner: 0), Entry(path: "/etc", mode: directory | 0o755, owner: 0),
                       Entry(path: "/", mode: directory | 0o755, owner: 0)]

    func problems(_ chain: [Entry], runningAs: UInt32 = 0) -> [String] {
        RootFilePermissions.problems(subject: "config file", consequence: RootFilePermissions.configConsequence, chain: chain, runningAs: runningAs)
    }

    @Test func aRootOwnedFileOnlyRootCanWriteIsFine() {
        #expect(problems([Entry(path: "/etc/tandem/tandem.yaml", mode: Self.file | 0o644, owner: 0)] + Self.root).isEmpty)
        #expect(problems([Entry(path: "/etc/tandem/tandem.yaml", mode: Self.file | 0o600, owner: 0)] + Self.root).isEmpty)
        #expect(problems([]).isEmpty)
    }

    @Test func aFileOthersCanWriteIsWarnedWithChmod() {
        let lines = problems([Entry(path: "/etc/tandem/tandem.yaml", mode: Self.file | 0o666, owner: 0)] + Self.root)
        #expect(lines == ["config file: /etc/tandem/tandem.yaml is writable by its group or other users (mode 0666, owner root): they can "
            + "change it, and tandemd runs the notify commands and exec checks it names as root, on both routers once it is mirrored; "
            + "run `chmod go-w /etc/tandem/tandem.yaml`"])
        // Group-writable alone is as bad.
        #expect(problems([Entry(path: "/etc/tandem/tandem.yaml", mode: Self.file | 0o664, owner: 0)] + Self.root).count == 1)
    }

    /// Another owner is warned only when the judge runs as root, and the owner is neither root
    /// nor the judge (an operator checking a copy of their own is not told to chown it).
    @Test func aForeignOwnerIsWarnedWithChownOnlyWhenRunningAsRoot() {
        let chain = [Entry(path: "/etc/tandem/tandem.yaml", mode: Self.file | 0o644, owner: 65534, ownerName: "nobody")] + Self.root
        #expect(problems(chain) == ["config file: /etc/tandem/tandem.yaml is owned by nobody (uid 65534), not root: that user can change it, "
            + "and tandemd runs the notify commands and exec checks it names as root, on both routers once it is mirrored; "
            + "run `chown root /etc/tandem/tandem.yaml`"])
        #expect(problems(chain, runningAs: 1000).isEmpty)
        #expect(problems(chain, runningAs: 65534).isEmpty)
        let both = problems([Entry(path: "/etc/tandem/tandem.yaml", mode: Self.file | 0o666, owner: 4321)] + Self.root)
        #expect(both.count == 2 && both[0].contains("(mode 0666, owner uid 4321)") && both[1].contains("is owned by uid 4321, not root"))
        #expect(problems([Entry(path: "/etc/tandem/tandem.yaml", mode: Self.file | 0o666, owner: 4321)] + Self.root, runningAs: 4321)
            .map { $0.contains("chmod go-w") } == [true])
    }

    /// A directory others can write lets them replace the file, unless it has the sticky bit
    /// (/tmp); a directory another user owns is theirs to change.
    @Test func directoriesOnTheWayAreJudgedToo() {
        let program = Entry(path: "/opt/hooks/notify.sh", mode: Self.file | 0o755, owner: 0)
        let open = [program, Entry(path: "/opt/hooks", mode: Self.directory | 0o777, owner: 0),
                    Entry(path: "/opt", mode: Self.directory | 0o755, owner: 1000, ownerName: "alice"), Entry(path: "/", mode: Self.directory | 0o755, owner: 0)]
        let lines = RootFilePermissions.problems(subject: "notify.active", consequence: RootFilePermissions.notifyConsequence, chain: open, runningAs: 0)
        #expect(lines == [
            "notify.active: /opt/hooks/notify.sh is in directory /opt/hooks, which its group or other users can write and which has no "
                + "sticky bit (mode 0777, owner root): they can replace /opt/hooks/notify.sh, and tandemd runs it as root at each role "
                + "change; run `chmod go-w /opt/hooks`",
            "notify.active: /opt/hooks/notify.sh is in directory /opt, owned by alice (uid 1000), not root: that user can replace "
                + "/opt/hooks/notify.sh, and tandemd runs it as root at each role change; run `chown root /opt`",
        ])
        let sticky = [program, Entry(path: "/tmp", mode: Self.directory | 0o1777, owner: 0), Entry(path: "/", mode: Self.directory | 0o755, owner: 0)]
        #expect(RootFilePermissions.problems(subject: "notify.active", consequence: "", chain: sticky, runningAs: 0).isEmpty)
    }
}
