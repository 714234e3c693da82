import Foundation
import NIOPosix
import Testing
import TandemCore
@testable import TandemHealth

/// Processes (anywhere on the host) whose command line is exactly `arguments`, from /proc.
/// Shared by the child-process tests too.
func processes(withCommandLine arguments: [String]) -> [Int32] {
    let wanted = arguments.joined(separator: "\0") + "\0"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
              String(decoding: data, as: UTF8.self) == wanted else { return nil }
        // A zombie still listed: only live ones count (state is the field after the name).
        if let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z" { return nil }
        return pid
    }
}

/// An exec check that outlives its timeout is killed with every process it started: the shell
/// and its children (foreground and background) share the check's process group.
@Suite(.serialized) struct ExecProbeTests {
    @Test(arguments: [
        "/bin/sleep %d; exit 0",             // the shell waits for a foreground child
        "/bin/sleep %d & /bin/sleep %d; exit 0", // and a background one
    ])
    func timeoutKillsTheWholeGroup(_ script: String) async throws {
        // A duration no other process on the host uses, so /proc finds only ours; a file the
        // script writes first proves it ran (so an empty /proc scan is not vacuous).
        let marker = "7.\(Int.random(in: 100_000...999_999))"
        let started = FileManager.default.temporaryDirectory.appendingPathComponent("tdm-exec-\(marker)").path
        defer { try? FileManager.default.removeItem(atPath: started) }
        let body = "echo started > \(started); " + script.replacingOccurrences(of: "%d", with: marker)
        let sleeper = ["/bin/sleep", marker]
        // 2 s: room for a slow spawn on a loaded machine before the timeout kills the script.
        let t = target(.exec(command: ["/bin/sh", "-c", body]), port: 1, timeout: .seconds(2))
        let result = try await NIOHealthProber().probe(t, on: MultiThreadedEventLoopGroup.singleton.next()).get()
        #expect(result == .failure("timed out after 2s"))
        #expect(FileManager.default.fileExists(atPath: started), "the check's script never ran")

        var left = processes(withCommandLine: sleeper)
        for _ in 0..<50 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(20))
            left = processes(withCommandLine: sleeper)
        }
        #expect(left.isEmpty, "sleep processes still running after the timeout: \(left)")
        for pid in left { kill(pid, SIGKILL) }
    }
}
