import TandemCore

/// The IPVS generic-netlink family's commands and attributes (`linux/ip_vs.h`) and the pure
/// encoding of Tandem's model into them and back. Byte orders differ per attribute (see
/// kernel-interfaces.md §1.2, from `ip_vs_genl_parse_service` / `_dest` / `_daemon`):
/// service and real-server ports and the GUE port are big-endian, the fwmark, protocol and
/// daemon port are host order, addresses and the IPv4 netmask are network order, the IPv6
/// netmask is a host-order prefix length.
enum IPVSWire {
    enum Command {
        static let newService: UInt8 = 1
        static let setService: UInt8 = 2
        static let deleteService: UInt8 = 3
        static let getService: UInt8 = 4
        static let newDestination: UInt8 = 5
        static let setDestination: UInt8 = 6
        static let deleteDestination: UInt8 = 7
        static let getDestination: UInt8 = 8
        static let newDaemon: UInt8 = 9
        static let deleteDaemon: UInt8 = 10
        static let getDaemon: UInt8 = 11
        static let setConfig: UInt8 = 12
        static let getConfig: UInt8 = 13
        static let setInfo: UInt8 = 14
        static let getInfo: UInt8 = 15
    }

    /// Top-level attributes (`IPVS_CMD_ATTR_*`).
    enum Top {
        static let service: UInt16 = 1
        static let destination: UInt16 = 2
        static let daemon: UInt16 = 3
        static let timeoutTCP: UInt16 = 4
        static let timeoutTCPFin: UInt16 = 5
        static let timeoutUDP: UInt16 = 6
    }

    enum Service {
        static let family: UInt16 = 1
        static let `protocol`: UInt16 = 2
        static let address: UInt16 = 3
        static let port: UInt16 = 4
        static let fwmark: UInt16 = 5
        static let scheduler: UInt16 = 6
        static let flags: UInt16 = 7
        static let timeout: UInt16 = 8
        static let netmask: UInt16 = 9
        static let stats: UInt16 = 10
        static let persistenceEngine: UInt16 = 11
        static let stats64: UInt16 = 12
    }

    enum Destination {
        static let address: UInt16 = 1
        static let port: UInt16 = 2
        static let forwarding: UInt16 = 3
        static let weight: UInt16 = 4
        static let upperThreshold: UInt16 = 5
        static let lowerThreshold: UInt16 = 6
        static let activeConnections: UInt16 = 7
        static let inactiveConnections: UInt16 = 8
        static let persistentConnections: UInt16 = 9
        static let stats: UInt16 = 10
        static let addressFamily: UInt16 = 11
        static let stats64: UInt16 = 12
        static let tunnelType: UInt16 = 13
        static let tunnelPort: UInt16 = 14
        static let tunnelFlags: UInt16 = 15
    }

    enum Daemon {
        static let state: UInt16 = 1
        static let interface: UInt16 = 2
        static let syncID: UInt16 = 3
        static let maxLength: UInt16 = 4
        static let group: UInt16 = 5
        static let group6: UInt16 = 6
        static let port: UInt16 = 7
        static let ttl: UInt16 = 8
    }

    enum Info {
        static let version: UInt16 = 1
        static let connectionTableSize: UInt16 = 2
    }

    enum Stats {
        static let connections: UInt16 = 1
        static let inPackets: UInt16 = 2
        static let outPackets: UInt16 = 3
        static let inBytes: UInt16 = 4
        static let outBytes: UInt16 = 5
        static let cps: UInt16 = 6
        static let inPPS: UInt16 = 7
        static let outPPS: UInt16 = 8
        static let inBPS: UInt16 = 9
        static let outBPS: UInt16 = 10
    }

    /// `IP_VS_CONN_F_FWD_MASK`.
    static let forwardingMask: UInt32 = 0x7

    // MARK: - Encoding

    /// The 16-byte address field ipvsadm and keepalived send (IPv4 in the first four bytes).
    static func addressField(_ address: IPAddress) -> [UInt8] {
        var bytes = address.bytes
        while bytes.count < 16 { bytes.append(0) }
        return bytes
    }

    /// The netmask attribute's bytes: an IPv4 mask in network order, an IPv6 prefix length in host order.
    static func netmaskField(_ netmask: UInt32, family: AddressFamily) -> [UInt8] {
        switch family {
        case .ipv4: return [UInt8(netmask >> 24), UInt8((netmask >> 16) & 0xFF), UInt8((netmask >> 8) & 0xFF), UInt8(netmask & 0xFF)]
        case .ipv6: return hostBytes(netmask)
        }
    }

    /// The identifying attributes of a service: AF, then FWMARK or PROTOCOL + ADDR + PORT.
    static func putServiceKey(_ key: IPVSServiceKey, into w: inout NetlinkAttributeWriter) {
        w.putU16(Service.family, key.family.rawValue)
        switch key {
        case .address(let proto, let address, let port):
            w.putU16(Service.protocol, proto.rawValue)
            w.put(Service.address, addressField(address))
            w.putBigEndianU16(Service.port, port)
        case .fwmark(_, let mark):
            w.putU32(Service.fwmark, mark)
        }
    }

    /// A full SERVICE nest as NEW_SERVICE and SET_SERVICE need it (SCHED_NAME, FLAGS, TIMEOUT and
    /// NETMASK are mandatory). FLAGS is `struct ip_vs_flags { flags, mask = ~0 }` so every bit is set
    /// as given; an absent PE_NAME removes a persistence engine.
    static func putService(_ service: IPVSService, into w: inout NetlinkAttributeWriter) {
        w.nest(Top.service) { n in
            putServiceKey(service.key, into: &n)
            n.putString(Service.scheduler, service.scheduler)
            if let engine = service.persistenceEngine { n.putString(Service.persistenceEngine, engine) }
            n.put(Service.flags, hostBytes(service.flags.rawValue) + hostBytes(UInt32.max))
            n.putU32(Service.timeout, service.timeout)
            n.put(Service.netmask, netmaskField(service.netmask, family: service.key.family))
        }
    }

    static func putServiceKeyNest(_ key: IPVSServiceKey, into w: inout NetlinkAttributeWriter) {
        w.nest(Top.service) { putServiceKey(key, into: &$0) }
    }

    /// The identifying attributes of a real server: ADDR, PORT (big-endian) and ADDR_FAMILY.
    static func putDestinationKey(_ key: IPVSDestinationKey, into w: inout NetlinkAttributeWriter) {
        w.put(Destination.address, addressField(key.address))
        w.putBigEndianU16(Destination.port, key.port)
        w.putU16(Destination.addressFamily, key.address.family.rawValue)
    }

    /// A full DEST nest (FWD_METHOD, WEIGHT, U_THRESH and L_THRESH are mandatory). Tunnel servers
    /// add TUN_TYPE, and TUN_PORT (big-endian, GUE only) and TUN_FLAGS (GUE and GRE), as ipvsadm does.
    static func putDestination(_ d: IPVSDestination, into w: inout NetlinkAttributeWriter) {
        w.nest(Top.destination) { n in
            putDestinationKey(d.key, into: &n)
            n.putU32(Destination.forwarding, d.forwarding.rawValue)
            n.putU32(Destination.weight, UInt32(bitPattern: d.weight))
            n.putU32(Destination.upperThreshold, d.upperThreshold)
            n.putU32(Destination.lowerThreshold, d.lowerThreshold)
            if d.forwarding == .tunnel {
                n.putU8(Destination.tunnelType, d.tunnelType.rawValue)
                if d.tunnelType == .gue { n.putBigEndianU16(Destination.tunnelPort, d.tunnelPort) }
                if d.tunnelType != .ipip { n.putU16(Destination.tunnelFlags, d.tunnelChecksum.rawValue) }
            }
        }
    }

    static func putDestinationKeyNest(_ key: IPVSDestinationKey, into w: inout NetlinkAttributeWriter) {
        w.nest(Top.destination) { putDestinationKey(key, into: &$0) }
    }

    /// A DAEMON nest. The multicast port is host order (unlike service ports) and an IPv4 group
    /// goes in MCAST_GROUP as network-order bytes, an IPv6 one in MCAST_GROUP6.
    static func putDaemon(_ d: IPVSSyncDaemon, into w: inout NetlinkAttributeWriter) {
        w.nest(Top.daemon) { n in
            n.putU32(Daemon.state, d.role.rawValue)
            n.putString(Daemon.interface, d.interface)
            n.putU32(Daemon.syncID, d.syncID)
            if let maxLength = d.maxLength { n.putU16(Daemon.maxLength, maxLength) }
            if let group = d.group {
                if group.family == .ipv4 { n.put(Daemon.group, group.bytes) } else { n.put(Daemon.group6, group.bytes) }
            }
            if let port = d.port { n.putU16(Daemon.port, port) }
            if let ttl = d.ttl { n.putU8(Daemon.ttl, ttl) }
        }
    }

    /// The request message for one change. With `acknowledge` (NLM_F_ACK) the kernel answers
    /// success too; without it, it answers only a failure (with that errno).
    static func message(for change: IPVSChange, family: UInt16, sequence: UInt32, acknowledge: Bool = true) -> [UInt8] {
        let flags = Netlink.request | (acknowledge ? Netlink.ack : 0)
        switch change {
        case .addService(let s):
            return genericNetlinkMessage(family: family, command: Command.newService, flags: flags, sequence: sequence) {
                putService(s, into: &$0)
            }
        case .updateService(let s):
            return genericNetlinkMessage(family: family, command: Command.setService, flags: flags, sequence: sequence) {
                putService(s, into: &$0)
            }
        case .deleteService(let key):
            return genericNetlinkMessage(family: family, command: Command.deleteService, flags: flags, sequence: sequence) {
                putServiceKeyNest(key, into: &$0)
            }
        case .addDestination(let key, let d):
            return genericNetlinkMessage(family: family, command: Command.newDestination, flags: flags, sequence: sequence) {
                putServiceKeyNest(key, into: &$0)
                putDestination(d, into: &$0)
            }
        case .updateDestination(let key, let d):
            return genericNetlinkMessage(family: family, command: Command.setDestination, flags: flags, sequence: sequence) {
                putServiceKeyNest(key, into: &$0)
                putDestination(d, into: &$0)
            }
        case .deleteDestination(let key, let d):
            return genericNetlinkMessage(family: family, command: Command.deleteDestination, flags: flags, sequence: sequence) {
                putServiceKeyNest(key, into: &$0)
                putDestinationKeyNest(d, into: &$0)
            }
        }
    }

    static func startDaemonMessage(_ d: IPVSSyncDaemon, family: UInt16, sequence: UInt32) -> [UInt8] {
        genericNetlinkMessage(family: family, command: Command.newDaemon, flags: Netlink.request | Netlink.ack, sequence: sequence) {
            putDaemon(d, into: &$0)
        }
    }

    static func stopDaemonMessage(_ role: IPVSSyncDaemon.Role, family: UInt16, sequence: UInt32) -> [UInt8] {
        genericNetlinkMessage(family: family, command: Command.deleteDaemon, flags: Netlink.request | Netlink.ack, sequence: sequence) {
            $0.nest(Top.daemon) { $0.putU32(Daemon.state, role.rawValue) }
        }
    }

    static func setTimeoutsMessage(_ t: IPVSTimeoutSettings, family: UInt16, sequence: UInt32) -> [UInt8] {
        genericNetlinkMessage(family: family, command: Command.setConfig, flags: Netlink.request | Netlink.ack, sequence: sequence) {
            $0.putU32(Top.timeoutTCP, t.tcp)
            $0.putU32(Top.timeoutTCPFin, t.tcpFin)
            $0.putU32(Top.timeoutUDP, t.udp)
        }
    }

    /// GET_DEST dump request for one service.
    static func destinationDumpMessage(_ key: IPVSServiceKey, family: UInt16, sequence: UInt32) -> [UInt8] {
        genericNetlinkMessage(family: family, command: Command.getDestination, flags: Netlink.request | Netlink.dump, sequence: sequence) {
            putServiceKeyNest(key, into: &$0)
        }
    }

    // MARK: - Decoding

    static func decodeStatistics(_ a: NetlinkAttributes?) -> IPVSStatistics {
        guard let a else { return IPVSStatistics() }
        return IPVSStatistics(
            connections: a.u64(Stats.connections) ?? 0, inPackets: a.u64(Stats.inPackets) ?? 0,
            outPackets: a.u64(Stats.outPackets) ?? 0, inBytes: a.u64(Stats.inBytes) ?? 0,
            outBytes: a.u64(Stats.outBytes) ?? 0, connectionRate: a.u64(Stats.cps) ?? 0,
            inPacketRate: a.u64(Stats.inPPS) ?? 0, outPacketRate: a.u64(Stats.outPPS) ?? 0,
            inByteRate: a.u64(Stats.inBPS) ?? 0, outByteRate: a.u64(Stats.outBPS) ?? 0)
    }

    /// Older kernels send only STATS, whose packet counters are u32 and byte counters u64.
    static func decodeLegacyStatistics(_ a: NetlinkAttributes?) -> IPVSStatistics {
        guard let a else { return IPVSStatistics() }
        func n(_ t: UInt16) -> UInt64 { a.u32(t).map(UInt64.init) ?? 0 }
        return IPVSStatistics(
            connections: n(Stats.connections), inPackets: n(Stats.inPackets), outPackets: n(Stats.outPackets),
            inBytes: a.u64(Stats.inBytes) ?? 0, outBytes: a.u64(Stats.outBytes) ?? 0,
            connectionRate: n(Stats.cps), inPacketRate: n(Stats.inPPS), outPacketRate: n(Stats.outPPS),
            inByteRate: n(Stats.inBPS), outByteRate: n(Stats.outBPS))
    }

    /// Decodes the SERVICE nest of a NEW_SERVICE dump reply. The kernel's HASHED flag is dropped.
    static func decodeService(_ top: NetlinkAttributes) throws -> IPVSListedService {
        guard let a = try top.nested(Top.service) else { throw NetlinkDecodeError("service reply without a SERVICE nest") }
        guard let af = a.u16(Service.family), let family = AddressFamily(rawValue: af) else {
            throw NetlinkDecodeError("service with unknown address family \(a.u16(Service.family).map(String.init) ?? "none")")
        }
        let key: IPVSServiceKey
        if let mark = a.u32(Service.fwmark), mark != 0 {
            key = .fwmark(family: family, mark: mark)
        } else {
            guard let p = a.u16(Service.protocol), let proto = IPVSProtocol(rawValue: p) else {
                throw NetlinkDecodeError("service with unknown protocol \(a.u16(Service.protocol).map(String.init) ?? "none")")
            }
            guard let raw = a[Service.address], let address = IPAddress(bytes: raw, family: family),
                  let port = a.bigEndianU16(Service.port) else {
                throw NetlinkDecodeError("service without address or port")
            }
            key = .address(protocol: proto, address: address, port: port)
        }
        let flagBytes = a[Service.flags]
        let flags = flagBytes.flatMap { readHost(UInt32.self, $0) } ?? 0
        let netmask: UInt32
        switch family {
        case .ipv4: netmask = a.bigEndianU32(Service.netmask) ?? 0xFFFF_FFFF
        case .ipv6: netmask = a.u32(Service.netmask) ?? 128
        }
        let engine = a.string(Service.persistenceEngine).flatMap { $0.isEmpty ? nil : $0 }
        let service = IPVSService(key: key, scheduler: a.string(Service.scheduler) ?? "",
                                  flags: IPVSServiceFlags(rawValue: flags), timeout: a.u32(Service.timeout) ?? 0,
                                  netmask: netmask, persistenceEngine: engine)
        let stats = try a.nested(Service.stats64).map { decodeStatistics($0) }
            ?? decodeLegacyStatistics(try a.nested(Service.stats))
        return IPVSListedService(service: service, statistics: stats)
    }

    /// Decodes the DEST nest of a NEW_DEST dump reply. Tunnel settings are kept only where they
    /// mean something (type for tunnels, port for GUE, checksum for GUE and GRE) so that a
    /// decoded server compares equal to the configured one.
    static func decodeDestination(_ top: NetlinkAttributes, serviceFamily: AddressFamily) throws -> IPVSListedDestination {
        guard let a = try top.nested(Top.destination) else { throw NetlinkDecodeError("real server reply without a DEST nest") }
        var family = serviceFamily
        if let af = a.u16(Destination.addressFamily), af != 0 {
            guard let f = AddressFamily(rawValue: af) else { throw NetlinkDecodeError("real server with unknown address family \(af)") }
            family = f
        }
        guard let raw = a[Destination.address], let address = IPAddress(bytes: raw, family: family),
              let port = a.bigEndianU16(Destination.port) else {
            throw NetlinkDecodeError("real server without address or port")
        }
        let method = (a.u32(Destination.forwarding) ?? 0) & forwardingMask
        guard let forwarding = IPVSForwarding(rawValue: method) else {
            throw NetlinkDecodeError("real server \(address.bracketed):\(port) with unknown forwarding method \(method)")
        }
        var tunnelType = IPVSTunnelType.ipip
        var tunnelPort: UInt16 = 0
        var checksum = IPVSTunnelChecksum.none
        if forwarding == .tunnel {
            tunnelType = a.u8(Destination.tunnelType).flatMap(IPVSTunnelType.init(rawValue:)) ?? .ipip
            if tunnelType == .gue { tunnelPort = a.bigEndianU16(Destination.tunnelPort) ?? 0 }
            if tunnelType != .ipip {
                checksum = a.u16(Destination.tunnelFlags).flatMap(IPVSTunnelChecksum.init(rawValue:)) ?? .none
            }
        }
        let destination = IPVSDestination(
            address: address, port: port, forwarding: forwarding,
            weight: Int32(bitPattern: a.u32(Destination.weight) ?? 0),
            upperThreshold: a.u32(Destination.upperThreshold) ?? 0, lowerThreshold: a.u32(Destination.lowerThreshold) ?? 0,
            tunnelType: tunnelType, tunnelPort: tunnelPort, tunnelChecksum: checksum)
        let stats = try a.nested(Destination.stats64).map { decodeStatistics($0) }
            ?? decodeLegacyStatistics(try a.nested(Destination.stats))
        return IPVSListedDestination(
            destination: destination, activeConnections: a.u32(Destination.activeConnections) ?? 0,
            inactiveConnections: a.u32(Destination.inactiveConnections) ?? 0,
            persistentConnections: a.u32(Destination.persistentConnections) ?? 0, statistics: stats)
    }

    static func decodeDaemon(_ top: NetlinkAttributes) throws -> IPVSSyncDaemon {
        guard let a = try top.nested(Top.daemon) else { throw NetlinkDecodeError("daemon reply without a DAEMON nest") }
        guard let state = a.u32(Daemon.state), let role = IPVSSyncDaemon.Role(rawValue: state) else {
            throw NetlinkDecodeError("daemon with unknown state \(a.u32(Daemon.state).map(String.init) ?? "none")")
        }
        var group: IPAddress?
        if let raw = a[Daemon.group6], let g = IPAddress(bytes: raw, family: .ipv6), !g.isUnspecified {
            group = g
        } else if let raw = a[Daemon.group], let g = IPAddress(bytes: raw, family: .ipv4), !g.isUnspecified {
            group = g
        }
        return IPVSSyncDaemon(role: role, interface: a.string(Daemon.interface) ?? "", syncID: a.u32(Daemon.syncID) ?? 0,
                              maxLength: a.u16(Daemon.maxLength), group: group, port: a.u16(Daemon.port),
                              ttl: a.u8(Daemon.ttl))
    }

    static func decodeInfo(_ top: NetlinkAttributes) throws -> IPVSInfo {
        guard let version = top.u32(Info.version), let size = top.u32(Info.connectionTableSize) else {
            throw NetlinkDecodeError("info reply without VERSION or CONN_TAB_SIZE")
        }
        return IPVSInfo(version: version, connectionTableSize: size)
    }

    static func decodeTimeouts(_ top: NetlinkAttributes) throws -> IPVSTimeoutSettings {
        guard let tcp = top.u32(Top.timeoutTCP), let fin = top.u32(Top.timeoutTCPFin), let udp = top.u32(Top.timeoutUDP) else {
            throw NetlinkDecodeError("config reply without the three timeouts")
        }
        return IPVSTimeoutSettings(tcp: tcp, tcpFin: fin, udp: udp)
    }
}
