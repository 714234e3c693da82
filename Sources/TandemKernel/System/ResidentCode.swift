import Glibc

/// Gives back the pages of program code that this process mapped and no longer touches.
///
/// A read-only file mapping's resident pages count in VmRSS although they are the page cache's
/// (shared, clean, reclaimable), and the kernel maps them in chunks: a fault maps up to 16
/// neighbouring pages that are already cached (`fault_around_bytes`, 64 KiB, mm/memory.c
/// `do_fault_around`), so code touched once at start-up — config loading, validation, the first
/// IPVS apply — stays counted for good. `MADV_DONTNEED` on such a mapping only removes this
/// process's page-table entries (madvise(2): a private file mapping is re-read from the file on
/// the next access); the pages stay in the page cache, so the code the daemon runs again comes
/// back as minor faults of a few microseconds each. Issue 16 measured the static tandemd's
/// executable mapping at 18.9 MiB resident of 28.4 at idle, keepalived's whole footprint at 13 MiB.
///
/// Only mappings that are executable, private, file-backed and have no private dirty page are
/// advised: a written page (a text relocation) would be lost, so such a mapping is left alone.
public enum ResidentCode {
    /// One mapping that may be given back: `[start, start + length)`.
    public struct Range: Sendable, Hashable {
        public var start: UInt
        public var length: UInt
        public var path: String
        /// Its resident pages when read (smaps `Rss:`), KiB.
        public var residentKilobytes = 0
    }

    /// The mappings of `/proc/PID/smaps` text that `release` may advise: permissions `r-xp`, a
    /// path (not `[vdso]` or anonymous), `Private_Dirty: 0 kB` and some resident pages.
    public static func releasableRanges(smaps text: String) -> [Range] {
        var ranges: [Range] = []
        var current: Range?
        var dirty = 0, resident = 0
        func close() {
            if var current, dirty == 0, resident > 0 {
                current.residentKilobytes = resident
                ranges.append(current)
            }
            current = nil
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = fields.first else { continue }
            if first.hasSuffix(":") {
                guard fields.count >= 2, let kilobytes = Int(fields[1]) else { continue }
                if first == "Private_Dirty:" { dirty = kilobytes }
                if first == "Rss:" { resident = kilobytes }
                continue
            }
            // A mapping's header: "start-end perms offset dev inode [path]".
            close()
            dirty = 0
            resident = 0
            let bounds = first.split(separator: "-")
            guard fields.count >= 6, bounds.count == 2, fields[1] == "r-xp", fields[5].hasPrefix("/"),
                  let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16), end > start else { continue }
            current = Range(start: start, length: end - start, path: fields[5...].joined(separator: " "))
        }
        close()
        return ranges
    }

    /// Advises every releasable code mapping of this process with `MADV_DONTNEED`: the number of
    /// bytes advised (resident or not). Errors are not fatal: a mapping that cannot be advised
    /// stays as it is, and an unreadable smaps advises nothing.
    @discardableResult
    public static func release() -> UInt {
        guard let bytes = try? Posix.readFile("/proc/self/smaps", limit: 16 << 20) else { return 0 }
        var advised: UInt = 0
        for range in releasableRanges(smaps: String(decoding: bytes, as: UTF8.self)) {
            guard let address = UnsafeMutableRawPointer(bitPattern: range.start) else { continue }
            if madvise(address, Int(range.length), MADV_DONTNEED) == 0 { advised += range.length }
        }
        return advised
    }
}
