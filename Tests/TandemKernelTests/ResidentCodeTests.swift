import Testing
@testable import TandemKernel

/// Which mappings of a process's smaps `ResidentCode.release` may give back.
@Suite struct ResidentCodeTests {
    static let smaps = """
        5581a000-5691e000 r-xp 00000000 fd:01 1234                       /usr/sbin/tandemd
        Size:              17424 kB
        Rss:               10028 kB
        Private_Dirty:         0 kB
        5691e000-5698c000 r--p 01104000 fd:01 1234                       /usr/sbin/tandemd
        Rss:                 440 kB
        Private_Dirty:       440 kB
        7f00a000-7f00b000 r-xp 00000000 fd:01 99                         /usr/lib/with text relocation.so
        Rss:                   4 kB
        Private_Dirty:         4 kB
        7f10a000-7f20b000 r-xp 00000000 fd:01 98                         /usr/lib/libnl-3.so.200
        Rss:                   0 kB
        Private_Dirty:         0 kB
        7f20a000-7f30b000 r-xp 00000000 fd:01 97                         /usr/lib/libc.so.6
        Rss:                1632 kB
        Private_Dirty:         0 kB
        7f40a000-7f40c000 r-xp 00000000 00:00 0                          [vdso]
        Rss:                   8 kB
        Private_Dirty:         0 kB
        7f50a000-7f50c000 rw-p 00000000 00:00 0
        Rss:                   8 kB
        Private_Dirty:         8 kB
        """

    @Test func onlyCleanResidentExecutableFileMappings() {
        #expect(ResidentCode.releasableRanges(smaps: Self.smaps) == [
            .init(start: 0x5581a000, length: 0x5691e000 - 0x5581a000, path: "/usr/sbin/tandemd", residentKilobytes: 10028),
            .init(start: 0x7f20a000, length: 0x10_1000, path: "/usr/lib/libc.so.6", residentKilobytes: 1632),
        ])
    }

    @Test func garbageAdvisesNothing() {
        #expect(ResidentCode.releasableRanges(smaps: "").isEmpty)
        #expect(ResidentCode.releasableRanges(smaps: "zzz r-xp\nRss: x kB\n-- r-xp 0 0 0 /x\n").isEmpty)
    }

    /// This test process's own code: it keeps running after its code pages were given back, and
    /// fewer of them are resident than before (only what ran since came back).
    @Test func releasingThisProcesssCodeKeepsItRunning() throws {
        func residentCode() throws -> Int {
            let smaps = String(decoding: try Posix.readFile("/proc/self/smaps", limit: 16 << 20), as: UTF8.self)
            return ResidentCode.releasableRanges(smaps: smaps).reduce(0) { $0 + $1.residentKilobytes }
        }
        let before = try residentCode()
        #expect(before > 0)
        #expect(ResidentCode.release() > 0)
        #expect(try residentCode() < before)
    }
}
