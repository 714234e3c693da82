/// One thing to check: a real server of a virtual server under that service's health check.
///
/// Its `key` (real server plus probe) is what survives a config reload: a target whose key is
/// unchanged keeps its health state even when interval, timeout, rise or fall change.
public struct HealthTarget: Sendable, Hashable {
    /// Identity of the health state across reloads.
    public struct Key: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var server: RealServerID
        public var probe: HealthCheck.Probe

        public init(server: RealServerID, probe: HealthCheck.Probe) {
            self.server = server
            self.probe = probe
        }

        public var description: String { "\(probe.typeName) check of \(server)" }

        /// The real server alone: a server rarely has two probes, and hashing the probe's strings
        /// on every lookup cost measurable CPU at thousands of checks a second. Equality still
        /// compares both.
        public func hash(into hasher: inout Hasher) {
            hasher.combine(server)
        }

        public static func < (lhs: Key, rhs: Key) -> Bool {
            lhs.server != rhs.server ? lhs.server < rhs.server : lhs.probe.typeName < rhs.probe.typeName
        }
    }

    public var server: RealServerID
    public var check: HealthCheck
    /// The configured weight.
    public var weight: Int
    /// The port the probe connects to: the probe's own port, else the real server's (0 when
    /// neither is set: a fwmark real server without a probe port cannot be checked over the network).
    public var probePort: UInt16

    public init(server: RealServerID, check: HealthCheck, weight: Int, probePort: UInt16) {
        self.server = server
        self.check = check
        self.weight = weight
        self.probePort = probePort
    }

    public var key: Key { Key(server: server, probe: check.probe) }
    public var address: IPAddress { server.address }

    /// Every target of a config, in config order. Services without a health check have none:
    /// their real servers are always up.
    public static func all(in config: Config) -> [HealthTarget] {
        config.virtualServers.flatMap { vs -> [HealthTarget] in
            guard let check = vs.healthCheck else { return [] }
            return vs.realServers.map { rs in
                HealthTarget(server: RealServerID(service: vs.name, address: rs.address, port: rs.port),
                             check: check, weight: rs.weight, probePort: check.probe.port ?? rs.port)
            }
        }
    }
}

extension HealthCheck.Probe {
    /// The probe's own port, if it sets one (exec checks have none).
    public var port: UInt16? {
        switch self {
        case .tcp(let port, _, _): return port
        case .http(let h): return h.port
        case .udp(let port, _, _): return port
        case .exec: return nil
        case .agent(let port, _): return port
        }
    }
}
