import Foundation
import Glibc
import Testing
import TandemKernel
@testable import TandemDaemon

@Suite(.serialized) struct AtomicFileWriterTests {
    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "tandem-atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func contents(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }

    @Test func replacesTheFileKeepsThePreviousOneAndItsMode() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tandem.yaml"
        try AtomicFileWriter.write(Array("serial: 1\n".utf8), to: path)
        #expect(contents(path) == Array("serial: 1\n".utf8))
        #expect(contents(AtomicFileWriter.previousPath(of: path)) == nil)
        chmod(path, 0o640)
        try AtomicFileWriter.write(Array("serial: 2\n".utf8), to: path)
        #expect(contents(path) == Array("serial: 2\n".utf8))
        #expect(contents(path + ".prev") == Array("serial: 1\n".utf8))
        var st = stat()
        stat(path, &st)
        #expect(st.st_mode & 0o777 == 0o640)
        #expect(!FileManager.default.fileExists(atPath: AtomicFileWriter.temporaryPath(of: path)))
        #expect(AtomicFileWriter.temporaryPath(of: path) == dir + "/.tandem.yaml.tandem-tmp")
    }

    @Test func aMissingDirectoryIsNamedInTheError() {
        #expect(throws: PosixError.self) {
            try AtomicFileWriter.write([1], to: "/nonexistent-tandem-dir/tandem.yaml")
        }
        do {
            try AtomicFileWriter.write([1], to: "/nonexistent-tandem-dir/tandem.yaml")
        } catch {
            #expect(error.description.hasPrefix("cannot create /nonexistent-tandem-dir/.tandem.yaml.tandem-tmp: No such file or directory (ENOENT); check the permissions and free space of /nonexistent-tandem-dir"))
        }
    }

    /// A child process rewrites the file in a loop, alternating two 256 KiB versions, and is
    /// SIGKILLed after a random delay, 40 times: every time the file (and `.prev`) must be one
    /// of the two versions, whole.
    @Test func sigkillAtAnyPointLeavesTheOldOrTheNewFileWhole() async throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/tandem.yaml"
        let old = Array(("serial: 1\n" + String(repeating: "# old version padding line\n", count: 9_750)).utf8)
        let new = Array(("serial: 2\n" + String(repeating: "# NEW VERSION PADDING LINE\n", count: 9_750)).utf8)
        try AtomicFileWriter.write(old, to: path)
        try AtomicFileWriter.write(old, to: path)  // the child runs only code the parent already ran
        var outcomes: [String: Int] = [:]
        var generator = SystemRandomNumberGenerator()
        for round in 0..<40 {
            let pid = fork()
            if pid == 0 {
                _ = nice(19)  // the writer must not slow the timing-sensitive tests running beside it
                for i in 0..<2_000 {
                    try? AtomicFileWriter.write(i % 2 == 0 ? new : old, to: path)
                }
                _exit(0)
            }
            #expect(pid > 0)
            // Task.sleep, not usleep: a blocked test thread would starve other tests' tasks.
            try await Task.sleep(for: .microseconds(Int.random(in: 0...40_000, using: &generator)))
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            let now = contents(path)
            #expect(now == old || now == new, "round \(round): the file is \(now?.count ?? -1) bytes, neither version")
            if let previous = contents(path + ".prev") {
                #expect(previous == old || previous == new, "round \(round): .prev is neither version")
            }
            outcomes[now == new ? "new" : now == old ? "old" : "mixed", default: 0] += 1
        }
        // The kills landed at different points: both versions were seen.
        #expect(outcomes["new", default: 0] > 0 && outcomes["old", default: 0] > 0, "outcomes \(outcomes)")
        // A temporary file left by a killed writer is replaced by the next write.
        try AtomicFileWriter.write(new, to: path)
        #expect(!FileManager.default.fileExists(atPath: AtomicFileWriter.temporaryPath(of: path)))
        #expect(contents(path) == new)
    }
}
