#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOPosix
import TandemCore

extension Daemon {
    /// The config replication service of this node: serves and fetches over TCP on the heartbeat
    /// port, authenticated with the heartbeat key. With `auth: none` it is built disabled (it
    /// only reports why): an unauthenticated channel must never rewrite a router's config.
    static func makeReplication(config: Config, store: LockedBox<ConfigStore>, nodeName: String, peerName: String,
                                paths: [HeartbeatPath], loop: HeartbeatLoop, reload: @escaping @Sendable () -> Void,
                                keysInForce: @escaping @Sendable () -> HeartbeatKeySet? = { nil },
                                logger: Logger, clock: any TandemClock) throws -> ReplicationService {
        var key: HeartbeatKey?
        if case .hmacSHA256(let keyFile) = config.heartbeat.authentication {
            let bytes: Data
            do {
                bytes = try Data(contentsOf: URL(fileURLWithPath: keyFile))
            } catch {
                throw DaemonStartError(description: "cannot read heartbeat key file \(keyFile): \(FileErrorText.describe(error))", exitCode: 78)
            }
            do {
                key = try HeartbeatKey(fileContents: bytes, path: keyFile)
            } catch {
                throw DaemonStartError(description: "cannot read heartbeat key file \(keyFile): \(error)", exitCode: 78)
            }
        }
        let settings = ReplicationSettings(nodeName: nodeName, peerName: peerName, paths: paths, port: config.heartbeat.port,
                                           configPath: store.withLock { $0.path })
        return ReplicationService(
            settings: settings, key: key, keysInForce: keysInForce,
            localVersion: {
                store.withLock { s in
                    ConfigVersion(serial: s.current.serial, digest: HeartbeatMessage.ConfigDigest(hex: s.digest) ?? .zero)
                }
            },
            reload: reload,
            inForce: {
                store.withLock { s in s.text.map { ConfigSnapshot(text: $0, serial: s.current.serial, digest: s.digest) } }
            },
            stage: { snapshot, config in
                store.withLock { $0.stage(text: snapshot.text, config: config, digest: snapshot.digest) }
            },
            answer: { event in loop.post(.node(event)) },
            // One event-loop thread: a fetch or a serve now and then. NIO's singleton group
            // (the default) has a thread per core, each idle with its stack and malloc arena.
            logger: logger, group: MultiThreadedEventLoopGroup(numberOfThreads: 1), clock: clock)
    }
}
