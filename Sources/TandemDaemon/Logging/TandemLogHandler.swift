import Glibc
import Logging
import Synchronization
import TandemCore
import TandemKernel

/// One line per event on stderr: `2025-05-01T10:00:00.123Z notice lvs-b: role standby -> active: …`.
///
/// UTC timestamp with milliseconds, level, the node name, the message, then metadata as
/// `key=value`. Lines are written whole (one write per line), so two threads never interleave.
///
/// When stderr is the journal (`journal: true`, see `stderrIsJournal`), each line starts with its
/// syslog priority instead of the timestamp (`<5>lvs-b: role …`): journald strips the prefix and
/// files the line at that priority, so `journalctl -p warning` works (systemd sd-daemon(3),
/// systemd.exec(5) `SyslogLevelPrefix=`); journald keeps its own timestamps.
public struct TandemLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let journal: Bool
    private let write: @Sendable (String) -> Void
    /// Dates the lines (its wall clock).
    private let clock: any TandemClock

    public init(label: String, journal: Bool = false, clock: any TandemClock = MonotonicClock(),
                write: @escaping @Sendable (String) -> Void = TandemLogHandler.writeToStandardError) {
        self.label = label
        self.journal = journal
        self.clock = clock
        self.write = write
    }

    /// The syslog priority of a level (RFC 5424 severities as journald reads `<N>`): critical 2,
    /// error 3, warning 4, notice 5, info 6, debug and trace 7.
    public static func syslogPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: return 2
        case .error: return 3
        case .warning: return 4
        case .notice: return 5
        case .info: return 6
        case .debug, .trace: return 7
        }
    }

    /// True when `journalStream` (`$JOURNAL_STREAM`, `device:inode` in decimal) names the file
    /// stderr is: the variable alone proves nothing, since children inherit it while their stderr
    /// may be redirected (systemd.exec(5), `$JOURNAL_STREAM`).
    public static func stderrIsJournal(journalStream: String?, stderrDevice: UInt64, stderrInode: UInt64) -> Bool {
        guard let parts = journalStream?.split(separator: ":"), parts.count == 2,
              let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        return device == stderrDevice && inode == stderrInode
    }

    /// `stderrIsJournal` for this process: `$JOURNAL_STREAM` against `fstat(2)`.
    public static func stderrIsJournal() -> Bool {
        guard let st = try? Posix.status(of: 2, object: "standard error") else { return false }
        return stderrIsJournal(journalStream: getenv("JOURNAL_STREAM").map { String(cString: $0) },
                               stderrDevice: UInt64(st.st_dev), stderrInode: UInt64(st.st_ino))
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        var text = journal
            ? "<\(TandemLogHandler.syslogPriority(event.level))>\(label): \(event.message)"
            : "\(ControlTime.iso8601(nanosecondsSinceEpoch: clock.wallNanoseconds())) \(event.level) \(label): \(event.message)"
        if !all.isEmpty {
            text += " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        write(text + "\n")
    }

    @Sendable public static func writeToStandardError(_ line: String) {
        // A log line that cannot be written has nowhere to be reported: dropped.
        try? Posix.writeAll(2, Array(line.utf8), object: "standard error")
    }
}
