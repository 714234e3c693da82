#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TandemCore
import TandemKernel

/// Chooses this daemon's boot epoch: larger than every epoch this node used before, so the peer's
/// replay protection accepts the new life and rejects packets of the old one.
///
/// The epoch is the wall clock in nanoseconds, raised above the last epoch recorded in
/// `<state_directory>/boot-epoch` when the clock went backwards; the choice is written back.
/// When the state directory cannot be written the wall clock alone is used (and said so).
public enum BootEpoch {
    /// Test-only: when this environment variable holds a number, it stands in for the wall clock
    /// (nanoseconds since 1970) when the epoch is chosen, so a test can start a daemon whose
    /// clock is behind (integration/host/test_auth.py). Never set it on a router.
    public static let testClockVariable = "TANDEMD_TEST_BOOT_CLOCK_NS"

    /// The wall clock in nanoseconds (`clock`'s), or the test-only stand-in.
    public static func wallClock(_ clock: any TandemClock = MonotonicClock(),
                                 environment: [String: String] = ProcessInfo.processInfo.environment) -> UInt64 {
        if let text = environment[testClockVariable], let forced = UInt64(text) { return forced }
        return clock.wallNanoseconds()
    }

    /// The epoch, and a warning when it could not be persisted.
    public static func next(stateDirectory: String, now: UInt64) -> (epoch: UInt64, warning: String?) {
        let path = PathText.appending("boot-epoch", to: stateDirectory)
        var epoch = now
        if let text = try? String(contentsOfFile: path, encoding: .utf8),
           let last = UInt64(text.trimmingWhitespaceAndNewlines()), last >= epoch {
            epoch = last + 1
        }
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            try Data("\(epoch)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            return (epoch, nil)
        } catch {
            return (epoch, "cannot record the boot epoch in \(path) (\(FileErrorText.describe(error))): using the wall clock alone")
        }
    }
}
