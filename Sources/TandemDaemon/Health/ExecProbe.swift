import Foundation
import Synchronization
import NIOCore
import TandemCore

/// `exec` checks: the program runs with `%h`/`%p` already substituted, no shell, standard input,
/// output and error on /dev/null (nothing to buffer); exit status 0 passes. At the timeout the
/// program's whole process group is killed with SIGKILL (a shell script's children too), and the
/// program is reaped by Foundation's child monitor.
///
/// Process groups: Foundation's `Process` spawns with `POSIX_SPAWN_SETPGROUP` and group 0, so the
/// program leads a new group whose id is its pid (swift-corelibs-foundation, Process.swift);
/// `kill(-pid, …)` reaches it and every descendant that stayed in the group. The group id cannot
/// be reused while the unreaped leader or any member lives.
///
/// Spawning happens on a queue of its own, so a slow `posix_spawn` never holds up the health
/// loop's other checks.
enum ExecProbe {
    static func run(_ arguments: [String], timeout: TimeSpan, promise: EventLoopPromise<ProbeResult>) {
        guard let program = arguments.first, let path = resolve(program) else {
            promise.succeed(.failure("cannot find the program \"\(arguments.first ?? "")\": give an absolute path"))
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = Array(arguments.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let name = (program as NSString).lastPathComponent
        let exited = ExitFlag()
        process.terminationHandler = { p in
            exited.set()
            let status = p.terminationStatus
            if p.terminationReason == .uncaughtSignal {
                promise.succeed(.failure("\(name) killed by signal \(status)"))
            } else if status == 0 {
                promise.succeed(.success("\(name) exited 0"))
            } else {
                promise.succeed(.failure("\(name) exited \(status)"))
            }
        }
        // The prober's timer fails the check at the timeout; the program's group is killed then,
        // whether the timeout comes before or after the spawn.
        let started = Mutex<(pid: pid_t?, abandoned: Bool)>((nil, false))
        promise.futureResult.whenComplete { _ in
            let pid = started.withLock { state -> pid_t? in
                state.abandoned = true
                return state.pid
            }
            if let pid, !exited.isSet { killGroup(leader: pid) }
        }
        // Off the health loop: a spawn can take milliseconds, and seconds on a loaded host.
        spawner.async {
            guard !started.withLock({ $0.abandoned }) else { return }  // timed out while queued
            do {
                try process.run()
            } catch {
                promise.succeed(.failure("cannot run \(path): \(error.localizedDescription)"))
                return
            }
            let pid = process.processIdentifier
            let abandoned = started.withLock { state -> Bool in
                state.pid = pid
                return state.abandoned
            }
            if abandoned && !exited.isSet { killGroup(leader: pid) }
        }
    }

    /// Where programs are spawned: one serial queue, never an event loop.
    private static let spawner = DispatchQueue(label: "tandemd.health.exec-spawn")

    /// SIGKILLs the process group led by `leader`; the leader alone if it has no group of its own.
    static func killGroup(leader pid: pid_t) {
        if getpgid(pid) == pid {
            kill(-pid, SIGKILL)
        } else {
            kill(pid, SIGKILL)
        }
    }

    /// An absolute or relative path as given; a bare name searched in PATH.
    static func resolve(_ program: String) -> String? {
        if program.contains("/") { return FileManager.default.isExecutableFile(atPath: program) ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Set once the child has been reaped, so a timeout never signals a recycled pid.
final class ExitFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
