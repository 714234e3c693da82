import Foundation
import Testing

/// The daemon reads time only through `TandemClock` (issue 15): no source file outside the
/// allow-list reads a clock directly, so an injected `ManualClock` drives every decision.
///
/// Allowed: the live clock itself (`Clocks.swift`), and the tools that are not the daemon
/// (`tandemctl` times its own commands, `tandem-sim` times a simulation run). Making the live
/// clock is allowed where it is a parameter's default (`clock: any TandemClock = MonotonicClock()`)
/// and in `Daemon.swift`, which makes the daemon's one clock; reading a clock made on the spot
/// (`MonotonicClock().now()`) or keeping a private one (`let clock = MonotonicClock()`) is not.
@Suite struct ClockReadScanTests {
    static let allowedPaths = ["Sources/TandemKernel/System/Clocks.swift", "Sources/tandemctl/", "Sources/tandem-sim/"]
    static let clockMakers = ["Sources/TandemDaemon/Daemon.swift"]

    /// Direct reads of a clock: the C library's, Foundation's, the standard library's, dispatch's,
    /// NIO's, and the live clock's helpers.
    static let forbidden = ["clock_gettime", "gettimeofday", "Date()", "Date.now", "ContinuousClock", "SuspendingClock",
                            "DispatchTime.now", "DispatchWallTime.now", "NIODeadline.now", "realtimeNanoseconds()",
                            "CFAbsoluteTimeGetCurrent", "systemUptime", "time(nil)", "MonotonicClock()."]

    /// The repository's root, from this file's path (Tests/TandemDaemonTests/…).
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `line` without a `//` comment (a string holding "//" is not expected in these lines).
    static func code(_ line: Substring) -> Substring {
        guard let range = line.range(of: "//") else { return line }
        return line[..<range.lowerBound]
    }

    /// The clock reads in `text` (a Swift file), as "line: reason".
    static func clockReads(in text: String, mayMakeClock: Bool) -> [String] {
        var found: [String] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = code(raw)
            for pattern in forbidden where line.contains(pattern) {
                found.append("\(index + 1): \(pattern)")
            }
            // An implicit member `.now()` (NIODeadline's or DispatchTime's): a dot not after an expression.
            var rest = line[...]
            while let range = rest.range(of: ".now()") {
                let before = line[..<range.lowerBound].last
                if before.map({ !($0.isLetter || $0.isNumber || "_)]?!".contains($0)) }) ?? true {
                    found.append("\(index + 1): .now()")
                }
                rest = line[range.upperBound...]
            }
            if !mayMakeClock, line.range(of: #"(let|var)\s+\w+\s*=\s*MonotonicClock\(\)"#, options: .regularExpression) != nil {
                found.append("\(index + 1): a private MonotonicClock")
            }
        }
        return found
    }

    @Test func noDaemonSourceReadsAClockDirectly() throws {
        let root = Self.root
        let sources = root.appendingPathComponent("Sources")
        let enumerator = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        var scanned = 0
        var offenders: [String] = []
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            let path = String(url.standardizedFileURL.path.dropFirst(root.standardizedFileURL.path.count + 1))
            if Self.allowedPaths.contains(where: { path.hasPrefix($0) }) { continue }
            scanned += 1
            let text = try String(contentsOf: url, encoding: .utf8)
            offenders += Self.clockReads(in: text, mayMakeClock: Self.clockMakers.contains(path)).map { "\(path):\($0)" }
        }
        #expect(scanned > 100, "found only \(scanned) source files under \(sources.path)")
        #expect(offenders.isEmpty, "read the time through TandemClock instead:\n\(offenders.joined(separator: "\n"))")
    }

    @Test func theScanFindsEachKindOfRead() {
        let text = """
            let a = NIODeadline.now()
            timers.schedule(at: .now()) { }
            var ts = timespec(); clock_gettime(CLOCK_REALTIME, &ts)
            let start = DispatchTime.now().uptimeNanoseconds
            reader.wait(until: MonotonicClock().now())
            let clock = MonotonicClock()
            let fine = clock.now() // NIODeadline.now() in a comment
            init(clock: any TandemClock = MonotonicClock()) {}
            let later = s.now + 1; let x = f().now(); let y = list[0].now()
            """
        #expect(Self.clockReads(in: text, mayMakeClock: false)
                == ["1: NIODeadline.now", "2: .now()", "3: clock_gettime", "4: DispatchTime.now", "5: MonotonicClock().",
                    "6: a private MonotonicClock"])
        #expect(Self.clockReads(in: "let clock = MonotonicClock()", mayMakeClock: true).isEmpty)
    }
}
