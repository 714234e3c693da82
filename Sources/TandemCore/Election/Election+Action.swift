extension Election {
    /// What the driver must do, in the order given. The election has already changed its own
    /// state; the actions only carry that change out.
    public enum Action: Sendable, Hashable {
        /// The role changed: log it (one line, with the reason).
        case transition(from: Role, to: Role, reason: String)
        /// Claim the VIPs and make the IPVS table match (becoming active).
        case claim(reason: String)
        /// Send gratuitous ARP / unsolicited neighbour advertisements for every VIP. `again`: an
        /// active that already announced tells the neighbours once more (its reason is logged; a
        /// claim's reason is the role change's, logged with it).
        case announce(reason: String, again: Bool = false)
        /// Remove the VIPs (leaving active).
        case release(reason: String)
        /// Send one packet round on every heartbeat path.
        case send(Outgoing)
        /// Run the notify command for `role`.
        case notify(role: Role, reason: String)
        /// An operator command (`failover`, `maintenance`) could not be carried out; tell the operator.
        case rejected(command: String, reason: String)
        /// Call `timerFired(at:)` at this instant. Replaces any earlier timer: there is only one.
        case scheduleTimer(at: MonotonicInstant)
        /// Stopping is complete (VIPs released or handed over): the daemon may exit.
        case finished(reason: String)
        /// Something the operator must hear about that changes no role: log it at `level` and
        /// publish it (a lasting dual-active episode, and its end).
        case alert(NodeLogLevel, String)

        var isAnnouncement: Bool { if case .announce = self { return true } else { return false } }
        var isRelease: Bool { if case .release = self { return true } else { return false } }
        var isSend: Bool { if case .send = self { return true } else { return false } }
    }

    /// The election's part of an outgoing packet; the driver adds sender, epoch, sequence,
    /// config serial and digest, path index and (unless `advertisedInterval` says otherwise) the
    /// configured interval.
    public struct Outgoing: Sendable, Hashable {
        public var kind: HeartbeatMessage.Kind
        public var role: Role
        public var priority: UInt8
        /// The interval this node keeps in its present state, when it is not the configured one:
        /// a standby following a live active sends every `Settings.standbyInterval` and says so.
        public var advertisedInterval: TimeSpan?

        public init(kind: HeartbeatMessage.Kind, role: Role, priority: UInt8, advertisedInterval: TimeSpan? = nil) {
            self.kind = kind
            self.role = role
            self.priority = priority
            self.advertisedInterval = advertisedInterval
        }

        /// The packet's interval field, ms: `advertisedInterval` when set, else `configured`.
        public func intervalMilliseconds(configured: UInt32) -> UInt32 {
            advertisedInterval.map { UInt32(clamping: $0.milliseconds) } ?? configured
        }
    }

    /// What the election knows of the peer, for decisions and for status.
    public struct PeerStatus: Sendable, Hashable {
        public var role: Role
        public var priority: UInt8
        /// Kind of the newest packet: a `takeoverRequest` means the peer is yielding to us.
        public var lastKind: HeartbeatMessage.Kind
        public var lastHeard: MonotonicInstant
        public var bootEpoch: UInt64
        /// Newest sequence number seen in `bootEpoch`.
        public var sequence: UInt64
        public var configSerial: UInt64
        public var configDigest: HeartbeatMessage.ConfigDigest
        /// The peer sent a release notice: it has left and need not be waited for.
        public var departed: Bool
        /// The interval the peer says it keeps (its packets' interval field), ms: the configured
        /// interval, or the longer `Settings.standbyInterval` of a standby following an active.
        public var intervalMilliseconds: UInt32
    }
}
