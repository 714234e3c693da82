import TandemCore

/// The health of one checked real server at one moment, for `tandemctl status` (the control
/// socket reads these from `DaemonHealth.snapshot()`).
///
/// Only real servers of virtual servers with a `health_check` appear: the others are never
/// checked and always count as up. `unknown` (no result yet since start or since the server or
/// its check was added) counts as up in the IPVS table.
public struct HealthServerStatus: Sendable, Hashable {
    /// The virtual server's name.
    public var service: String
    /// The real server's address.
    public var address: IPAddress
    /// The real server's port (0 for a fwmark service's real server).
    public var port: UInt16
    /// The probe type: `tcp`, `http`, `https`, `udp`, `exec` or `agent`.
    public var check: String
    /// `up`, `down` or `unknown`.
    public var status: HealthTracker.Status
    /// When `status` last changed (or checking began), CLOCK_MONOTONIC as `HealthMonitor.now()` reads it.
    public var since: MonotonicInstant
    /// The last check's outcome and reason (`passed: HTTP 200`, `failed: connection refused`);
    /// nil before the first result.
    public var lastResult: String?
    /// When the last result arrived; nil before the first.
    public var lastCheck: MonotonicInstant?
    /// The weight the IPVS table gets now (agent feedback, drain and warm-up applied); nil while
    /// down (then the server is quiesced at 0 or removed, per the check's `failure_action`).
    public var effectiveWeight: Int?
    /// The weight in the config.
    public var configuredWeight: Int

    public init(service: String, address: IPAddress, port: UInt16, check: String, status: HealthTracker.Status,
                since: MonotonicInstant, lastResult: String?, lastCheck: MonotonicInstant?, effectiveWeight: Int?,
                configuredWeight: Int) {
        self.service = service
        self.address = address
        self.port = port
        self.check = check
        self.status = status
        self.since = since
        self.lastResult = lastResult
        self.lastCheck = lastCheck
        self.effectiveWeight = effectiveWeight
        self.configuredWeight = configuredWeight
    }

    /// The entry of `HealthMonitor.snapshot()` this status describes.
    public init(_ entry: HealthState.Entry) {
        self.init(service: entry.key.server.service, address: entry.key.server.address, port: entry.key.server.port,
                  check: entry.key.probe.typeName, status: entry.status, since: entry.since,
                  lastResult: entry.lastResult?.description, lastCheck: entry.lastCheck,
                  effectiveWeight: entry.effectiveWeight, configuredWeight: entry.configuredWeight)
    }

    /// `10.0.0.2:80`, `[2001:db8::2]:80`.
    public var server: String { "\(address.bracketed):\(port)" }
}

extension HealthMonitor {
    /// Every checked real server's health now, sorted by service, address and port.
    public func serverStatuses() -> [HealthServerStatus] {
        snapshot().map(HealthServerStatus.init)
    }
}
