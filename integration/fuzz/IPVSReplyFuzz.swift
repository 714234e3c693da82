// Fuzz target `ipvs`: IPVS generic-netlink replies as `LiveIPVSKernel` reads them: a datagram
// split into messages (`NetlinkMessage.split`), each message's genl header and attributes, and
// every decoder of a reply (service, real server, sync daemon, info, timeouts) on each message.
//
// Properties checked on every input:
// 1. Nothing traps, whatever the bytes.
// 2. A decoded service, real server or sync daemon, encoded back as Tandem sends it, decodes to
//    the same value (what Tandem reads it can write, so a listing compares equal to its table).

@testable import TandemCore

func ipvsFuzz(_ input: [UInt8]) {
    guard let messages = try? NetlinkMessage.split(input) else { return }
    for message in messages {
        _ = message.errorCode
        guard let attributes = try? message.generic().attributes else { continue }
        if let listed = try? IPVSWire.decodeService(attributes) {
            var writer = NetlinkAttributeWriter()
            IPVSWire.putService(listed.service, into: &writer)
            let again = try? IPVSWire.decodeService(NetlinkAttributes(writer.bytes[...]))
            precondition(again?.service == listed.service, "service \(listed.service) changed through encoding")
        }
        for family in [AddressFamily.ipv4, .ipv6] {
            guard let listed = try? IPVSWire.decodeDestination(attributes, serviceFamily: family) else { continue }
            var writer = NetlinkAttributeWriter()
            IPVSWire.putDestination(listed.destination, into: &writer)
            let again = try? IPVSWire.decodeDestination(NetlinkAttributes(writer.bytes[...]), serviceFamily: family)
            precondition(again?.destination == listed.destination, "real server \(listed.destination) changed through encoding")
        }
        if let daemon = try? IPVSWire.decodeDaemon(attributes) {
            var writer = NetlinkAttributeWriter()
            IPVSWire.putDaemon(daemon, into: &writer)
            let again = try? IPVSWire.decodeDaemon(NetlinkAttributes(writer.bytes[...]))
            precondition(again == daemon, "sync daemon \(daemon) changed through encoding")
        }
        _ = try? IPVSWire.decodeInfo(attributes)
        _ = try? IPVSWire.decodeTimeouts(attributes)
    }
}

/// Seeds besides the unit tests' captured replies (run.sh extracts those): replies built from
/// Tandem's own encodings of a few services, servers and daemons, several to a datagram.
func ipvsSeeds() -> [(String, [UInt8])] {
    let family: UInt16 = 0x1c
    let http = IPVSService(key: .address(protocol: .tcp, address: IPAddress("10.0.0.1")!, port: 80), scheduler: "wlc",
                           flags: .persistent, timeout: 300, netmask: 0xFFFF_FF00)
    let mark = IPVSService(key: .fwmark(family: .ipv6, mark: 7), scheduler: "rr", netmask: 128, persistenceEngine: "sip")
    let gue = IPVSDestination(address: IPAddress("192.168.1.2")!, port: 80, forwarding: .tunnel, weight: 5,
                              upperThreshold: 100, lowerThreshold: 10, tunnelType: .gue, tunnelPort: 6080,
                              tunnelChecksum: .remoteChecksum)
    let nat = IPVSDestination(address: IPAddress("2001:db8::11")!, port: 443, forwarding: .masquerade, weight: -1,
                              upperThreshold: 0, lowerThreshold: 0)
    let daemon = IPVSSyncDaemon(role: .backup, interface: "eth1", syncID: 9, maxLength: 1400,
                                group: IPAddress("224.0.0.81"), port: 8848, ttl: 2)
    func reply(_ command: UInt8, sequence: UInt32, _ body: (inout NetlinkAttributeWriter) -> Void) -> [UInt8] {
        genericNetlinkMessage(family: family, command: command, flags: Netlink.multi, sequence: sequence, attributes: body)
    }
    let done = hostBytes(UInt32(20)) + hostBytes(Netlink.done) + hostBytes(Netlink.multi) + hostBytes(UInt32(3))
        + hostBytes(UInt32(0)) + hostBytes(Int32(0))
    return [
        ("services", reply(IPVSWire.Command.newService, sequence: 3) { IPVSWire.putService(http, into: &$0) }
            + reply(IPVSWire.Command.newService, sequence: 3) { IPVSWire.putService(mark, into: &$0) } + done),
        ("servers", reply(IPVSWire.Command.newDestination, sequence: 4) { IPVSWire.putDestination(gue, into: &$0) }
            + reply(IPVSWire.Command.newDestination, sequence: 4) { IPVSWire.putDestination(nat, into: &$0) }),
        ("daemon", reply(IPVSWire.Command.newDaemon, sequence: 5) { IPVSWire.putDaemon(daemon, into: &$0) }),
    ]
}
