/// The IPVS table as Tandem models it: what identifies and configures a service or a real server,
/// kept apart from what the kernel reports about it (counters, connection numbers), so that a
/// diff compares only what an operator configured.
///
/// Values mirror the kernel's own representation (see `linux/ip_vs.h` and
/// `../shared/reference/kernel-interfaces.md` §1), so encoding is a plain copy.

/// Transport protocol of a service. Raw values are IP protocol numbers, as the kernel's
/// `IPVS_SVC_ATTR_PROTOCOL` carries them.
public enum IPVSProtocol: UInt16, Sendable, Hashable, Comparable, Codable, CaseIterable, CustomStringConvertible {
    case tcp = 6
    case udp = 17
    case sctp = 132

    public var description: String {
        switch self {
        case .tcp: return "tcp"
        case .udp: return "udp"
        case .sctp: return "sctp"
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What identifies a virtual service in the kernel: (family, fwmark) or
/// (family, protocol, address, port). The family of an address-keyed service is the address's.
public enum IPVSServiceKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    case address(protocol: IPVSProtocol, address: IPAddress, port: UInt16)
    case fwmark(family: AddressFamily, mark: UInt32)

    public var family: AddressFamily {
        switch self {
        case .address(_, let address, _): return address.family
        case .fwmark(let family, _): return family
        }
    }

    /// `tcp 192.0.2.10:80`, `fwmark 7 IPv6`.
    public var description: String {
        switch self {
        case .address(let proto, let address, let port):
            return "\(proto) \(address.bracketed):\(port)"
        case .fwmark(let family, let mark):
            return family == .ipv4 ? "fwmark \(mark)" : "fwmark \(mark) IPv6"
        }
    }

    /// The order `ipvsadm` lists services in (libipvs `ipvs_cmp_services`): fwmark first (0 for
    /// address services), then family, protocol, address, port.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        func tuple(_ k: Self) -> (UInt32, UInt16, UInt16, IPAddress, UInt16) {
            switch k {
            case .address(let p, let a, let port): return (0, a.family.rawValue, p.rawValue, a, port)
            case .fwmark(let f, let m): return (m, f.rawValue, 0, f == .ipv4 ? .v4(0) : .v6(high: 0, low: 0), 0)
            }
        }
        return tuple(lhs) < tuple(rhs)
    }
}

/// Service flag bits (`IP_VS_SVC_F_*`).
public struct IPVSServiceFlags: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let persistent = IPVSServiceFlags(rawValue: 0x1)
    /// Set by the kernel on every service it has hashed; never configured, never compared.
    public static let hashed = IPVSServiceFlags(rawValue: 0x2)
    public static let onePacket = IPVSServiceFlags(rawValue: 0x4)
    public static let scheduler1 = IPVSServiceFlags(rawValue: 0x8)
    public static let scheduler2 = IPVSServiceFlags(rawValue: 0x10)
    public static let scheduler3 = IPVSServiceFlags(rawValue: 0x20)

    /// The bits an operator configures; everything else is kernel-internal.
    public static let configurable: IPVSServiceFlags = [.persistent, .onePacket, .scheduler1, .scheduler2, .scheduler3]
}

/// Packet-forwarding method of a real server (`IP_VS_CONN_F_*` masked by `IP_VS_CONN_F_FWD_MASK`).
public enum IPVSForwarding: UInt32, Sendable, Hashable, Codable, CustomStringConvertible {
    /// NAT: the director rewrites the destination (ipvsadm `-m`).
    case masquerade = 0
    /// A local service on the director itself (ipvsadm prints `Local`, saves `-g`).
    case local = 1
    /// IP-in-IP / GUE / GRE encapsulation (ipvsadm `-i`).
    case tunnel = 2
    /// Direct routing: only the MAC is rewritten (ipvsadm `-g`).
    case directRoute = 3

    public var description: String {
        switch self {
        case .masquerade: return "nat"
        case .local: return "local"
        case .tunnel: return "tunnel"
        case .directRoute: return "dr"
        }
    }
}

/// Encapsulation used by a tunnel real server (`IP_VS_CONN_F_TUNNEL_TYPE_*`).
public enum IPVSTunnelType: UInt8, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case ipip = 0
    case gue = 1
    case gre = 2

    public var description: String {
        switch self {
        case .ipip: return "ipip"
        case .gue: return "gue"
        case .gre: return "gre"
        }
    }
}

/// Checksum handling inside a GUE or GRE tunnel (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
public enum IPVSTunnelChecksum: UInt16, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case none = 0
    case checksum = 1
    case remoteChecksum = 2

    public var description: String {
        switch self {
        case .none: return "nocsum"
        case .checksum: return "csum"
        case .remoteChecksum: return "remcsum"
        }
    }
}

/// A virtual service's configuration: key, scheduler, flags and persistence.
///
/// `netmask` is the kernel's value: for IPv4 a mask as a host-order integer (0xFFFFFF00 for /24,
/// which the kernel stores network-order), for IPv6 a prefix length 1…128 (the kernel reads the
/// same attribute as a prefix length for IPv6; see `ip_vs_ctl.c`).
public struct IPVSService: Sendable, Hashable {
    public var key: IPVSServiceKey
    public var scheduler: String
    /// Configured flag bits only; `hashed` is stripped on decode.
    public var flags: IPVSServiceFlags
    /// Persistence timeout in seconds (meaningful when `flags` has `persistent`).
    public var timeout: UInt32
    public var netmask: UInt32
    /// Persistence engine name, e.g. "sip"; nil for none.
    public var persistenceEngine: String?

    public init(key: IPVSServiceKey, scheduler: String, flags: IPVSServiceFlags = [], timeout: UInt32 = 0,
                netmask: UInt32? = nil, persistenceEngine: String? = nil) {
        self.key = key
        self.scheduler = scheduler
        self.flags = flags.intersection(.configurable)
        self.timeout = timeout
        self.netmask = netmask ?? IPVSService.fullNetmask(for: key.family)
        self.persistenceEngine = persistenceEngine
    }

    /// The netmask meaning "one client address": 255.255.255.255 or 128.
    public static func fullNetmask(for family: AddressFamily) -> UInt32 {
        family == .ipv4 ? 0xFFFF_FFFF : 128
    }

    /// Netmask for a prefix length in the kernel's per-family representation.
    public static func netmask(prefixLength: Int, family: AddressFamily) -> UInt32 {
        switch family {
        case .ipv4: return prefixLength <= 0 ? 0 : ~UInt32(0) << (32 - min(32, prefixLength))
        case .ipv6: return UInt32(max(0, min(128, prefixLength)))
        }
    }
}

/// A real server's configuration within one service.
public struct IPVSDestination: Sendable, Hashable {
    public var address: IPAddress
    /// 0 for the real servers of a fwmark service that keep the client's port.
    public var port: UInt16
    public var forwarding: IPVSForwarding
    public var weight: Int32
    /// Connection thresholds; 0 means no limit.
    public var upperThreshold: UInt32
    public var lowerThreshold: UInt32
    public var tunnelType: IPVSTunnelType
    /// GUE destination port (network order on the wire); 0 unless GUE.
    public var tunnelPort: UInt16
    public var tunnelChecksum: IPVSTunnelChecksum

    public init(address: IPAddress, port: UInt16, forwarding: IPVSForwarding, weight: Int32 = 1,
                upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0,
                tunnelType: IPVSTunnelType = .ipip, tunnelPort: UInt16 = 0,
                tunnelChecksum: IPVSTunnelChecksum = .none) {
        self.address = address
        self.port = port
        self.forwarding = forwarding
        self.weight = weight
        self.upperThreshold = upperThreshold
        self.lowerThreshold = lowerThreshold
        self.tunnelType = tunnelType
        self.tunnelPort = tunnelPort
        self.tunnelChecksum = tunnelChecksum
    }

    /// What identifies a real server within its service: (family, address, port).
    public var key: IPVSDestinationKey { IPVSDestinationKey(address: address, port: port) }
}

/// Identity of a real server within a service. The family is the address's.
public struct IPVSDestinationKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String { "\(address.bracketed):\(port)" }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.address, lhs.port) < (rhs.address, rhs.port) }
}

/// One service with its real servers, as configured.
public struct IPVSServiceEntry: Sendable, Hashable {
    public var service: IPVSService
    public var destinations: [IPVSDestination]

    public init(service: IPVSService, destinations: [IPVSDestination]) {
        self.service = service
        self.destinations = destinations
    }
}

/// A whole IPVS table (desired or observed, without counters) in a canonical order: services
/// sorted by key, real servers by (address, port), all as unsigned numbers. (ipvsadm's own
/// listing order differs for values more than 2^31 apart: `IPVSAdmOrder`.)
public struct IPVSTable: Sendable, Hashable {
    public private(set) var entries: [IPVSServiceEntry]

    public init(_ entries: [IPVSServiceEntry] = []) {
        self.entries = entries
            .map { IPVSServiceEntry(service: $0.service, destinations: $0.destinations.sorted { $0.key < $1.key }) }
            .sorted { $0.service.key < $1.service.key }
    }

    public subscript(key: IPVSServiceKey) -> IPVSServiceEntry? {
        entries.first { $0.service.key == key }
    }
}
