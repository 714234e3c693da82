import NIOCore
import TandemCore
import TandemKernel

/// `exec` checks: the program runs with `%h`/`%p` already substituted, no shell, standard input,
/// output and error on /dev/null (nothing to buffer); exit status 0 passes. It runs on
/// `SpawnChildRunner`, the same runner as notify commands: its own process group, and at the
/// timeout SIGKILL to the whole group (a shell script's children too), then reaped. What it leaves
/// running in its group when it exits is ended too (`ChildRequest.endGroupOnExit`).
///
/// Each check waits on a thread of its own (the runner blocks), so a slow spawn or a hanging
/// program never holds up the health loop's other checks; the prober's own timer fails the
/// check at the timeout whatever the thread is doing.
enum ExecProbe {
    static func run(_ arguments: [String], timeout: TimeSpan, promise: EventLoopPromise<ProbeResult>,
                    runner: any ChildRunning = SpawnChildRunner()) {
        guard let program = arguments.first, !program.isEmpty else {
            promise.succeed(.failure("no program to run"))
            return
        }
        if let why = SpawnChildRunner.whyNotRunnable(program) {
            promise.succeed(.failure("cannot run the check: \(why)"))
            return
        }
        let name = PathText.lastComponent(of: program)
        let request = ChildRequest(arguments: arguments, timeout: timeout, terminationGrace: .milliseconds(0), outputLimit: 0,
                                   endGroupOnExit: true)
        do {
            try DetachedThread.start(object: "exec check \(name)") {
                finish(runner.run(request), name: name, timeout: timeout, promise: promise)
            }
        } catch {
            promise.succeed(.failure("cannot run \(name): \(error)"))
        }
    }

    private static func finish(_ outcome: ChildOutcome, name: String, timeout: TimeSpan,
                               promise: EventLoopPromise<ProbeResult>) {
        switch outcome.ending {
        case .exited(0): promise.succeed(.success("\(name) exited 0"))
        case .exited(let status): promise.succeed(.failure("\(name) exited \(status)"))
        case .killedBySignal(let signal): promise.succeed(.failure("\(name) killed by signal \(signal)"))
        case .timedOut: promise.succeed(.failure("timed out after \(timeout)"))
        case .failedToStart(let why): promise.succeed(.failure("cannot run \(why)"))
        }
    }
}
