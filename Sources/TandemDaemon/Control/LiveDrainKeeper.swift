import Dispatch
import Logging
import TandemCore

/// The live `DrainKeeping`: writes the drain list to the state directory (`OperatorState`) on a
/// serial queue, so that changes land in the order `NodeState` made them and the heartbeat
/// thread never waits for a file. (The IPVS table gets the drained set from `NodeState` itself,
/// through `NodeEffect.reconcileIPVS`.)
public final class LiveDrainKeeper: DrainKeeping {
    private let stateDirectory: String
    private let logger: Logger
    private let queue = DispatchQueue(label: "tandem.drains")

    public init(stateDirectory: String, logger: Logger) {
        self.stateDirectory = stateDirectory
        self.logger = logger
    }

    /// The drain list kept in `stateDirectory` (empty when there is none; bad lines are logged and skipped).
    public static func load(stateDirectory: String, logger: Logger) -> DrainBook {
        OperatorState.loadDrains(stateDirectory: stateDirectory, logger: logger)
    }

    public func changed(_ book: DrainBook) {
        queue.async { [stateDirectory, logger] in
            do {
                try OperatorState.storeDrains(book, stateDirectory: stateDirectory)
            } catch {
                logger.error("cannot store drains in \(stateDirectory): \(FileErrorText.describe(error)); they will not survive a restart")
            }
        }
    }
}
