#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TandemCore
import Glibc

/// The standard process metrics (`process_*`, as the Prometheus client libraries name them),
/// read from Linux's /proc at each scrape: `/proc/self/stat` (fields 14-15 utime and stime in
/// clock ticks, 22 starttime in ticks after boot, 23 vsize in bytes, 24 rss in pages; proc(5)),
/// `btime` of `/proc/stat` (boot time, seconds since 1970), `/proc/self/fd` (open descriptors)
/// and `RLIMIT_NOFILE`.
public struct ProcessStatistics: Sendable, Hashable {
    /// User plus system CPU time, seconds.
    public var cpuSeconds: Double
    /// Resident set size, bytes.
    public var residentMemoryBytes: UInt64
    /// Virtual memory size, bytes.
    public var virtualMemoryBytes: UInt64
    /// Start time, seconds since 1970 (UTC).
    public var startTimeSeconds: Double
    public var openFileDescriptors: Int
    /// The soft `RLIMIT_NOFILE`.
    public var maximumFileDescriptors: UInt64

    public init(cpuSeconds: Double, residentMemoryBytes: UInt64, virtualMemoryBytes: UInt64, startTimeSeconds: Double,
                openFileDescriptors: Int, maximumFileDescriptors: UInt64) {
        self.cpuSeconds = cpuSeconds
        self.residentMemoryBytes = residentMemoryBytes
        self.virtualMemoryBytes = virtualMemoryBytes
        self.startTimeSeconds = startTimeSeconds
        self.openFileDescriptors = openFileDescriptors
        self.maximumFileDescriptors = maximumFileDescriptors
    }

    /// This process's figures now; nil when /proc is not mounted or not in the expected format.
    public static func current() -> ProcessStatistics? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let procStat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return nil }
        var limit = rlimit()
        let maximum: UInt64 = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? UInt64(limit.rlim_cur) : 0
        return parse(stat: stat, procStat: procStat, openFileDescriptors: fds.count, maximumFileDescriptors: maximum,
                     ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), pageSize: UInt64(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// Parses the text of `/proc/self/stat` and `/proc/stat`. The command name (field 2) is in
    /// parentheses and may hold spaces and parentheses itself, so fields are counted after the
    /// last `)`.
    public static func parse(stat: String, procStat: String, openFileDescriptors: Int, maximumFileDescriptors: UInt64,
                             ticksPerSecond: Double, pageSize: UInt64) -> ProcessStatistics? {
        guard ticksPerSecond > 0, let close = stat.lastIndex(of: ")") else { return nil }
        // After ")": field 3 (state) is index 0, so field N is index N - 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        func field(_ n: Int) -> UInt64? { n - 3 < fields.count ? UInt64(fields[n - 3]) : nil }
        guard let utime = field(14), let stime = field(15), let start = field(22), let vsize = field(23), let rss = field(24),
              let btimeLine = procStat.split(separator: "\n").first(where: { $0.hasPrefix("btime ") }),
              let bootTime = Double(btimeLine.dropFirst("btime ".count).trimmingWhitespace()) else { return nil }
        return ProcessStatistics(cpuSeconds: Double(utime + stime) / ticksPerSecond, residentMemoryBytes: rss * pageSize,
                                 virtualMemoryBytes: vsize, startTimeSeconds: bootTime + Double(start) / ticksPerSecond,
                                 openFileDescriptors: openFileDescriptors, maximumFileDescriptors: maximumFileDescriptors)
    }
}
