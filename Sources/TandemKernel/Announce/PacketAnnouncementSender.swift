// Sends gratuitous ARP and unsolicited neighbour advertisements through AF_PACKET sockets.
//
// Why it is shaped so: one SOCK_DGRAM packet socket per interface, protocol 0 (so it never
// receives and nothing queues up), bound to the interface. `getsockname` on the bound socket
// gives the interface's MAC. For each message the destination `sockaddr_ll` names the Ethernet
// type and the destination MAC, and the kernel writes the Ethernet header, as iputils arping does.
// The MAC is read again for every announcement (`getsockname` reports the link's address at the
// time of the call, net/packet/af_packet.c `packet_getname`): a link whose address changed since
// the socket was opened (`ip link set … address`, a bond's fail_over_mac) is announced with the new one.
// IPv6 goes the same way (not through a raw ICMPv6 socket): the complete IPv6 packet, checksum
// included, is built and tested in TandemCore, and sending does not depend on the VIP being
// bound-able (not tentative), on the routing table or on source-address selection. Needs
// CAP_NET_RAW.

import CNetlink
import Glibc
import Synchronization
import TandemCore

/// One bound AF_PACKET socket and what it learnt about its interface.
final class PacketSocket {
    let descriptor: Int32
    let interfaceIndex: Int32
    let interface: String
    /// IPv6 forwarding on the interface when the socket was opened: sets the R flag of
    /// neighbour advertisements (as keepalived does). Read once, off the claim's hot path.
    var ipv6Router = false

    init(interface: String) throws(KernelError) {
        self.interface = interface
        let index = try lookUpInterfaceIndex(of: interface, for: "announcements")
        interfaceIndex = index
        let fd: Int32
        do {
            fd = try Posix.socket(family: AF_PACKET, type: Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), object: interface)
        } catch {
            throw KernelError(error, operation: "open packet socket", hint: "Tandem needs CAP_NET_RAW to send gratuitous ARP")
        }
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_protocol = 0
        address.sll_ifindex = index
        do {
            try Posix.bind(fd, to: address, object: interface)
        } catch {
            Posix.close(fd)
            throw KernelError(error, operation: "bind packet socket")
        }
        descriptor = fd
        _ = try mac()
    }

    deinit { Posix.close(descriptor) }

    /// The interface's MAC now. ENODEV when the interface this socket was bound to is gone (the
    /// kernel unbinds the socket: no index, no address), so the caller opens a new socket.
    func mac() throws(KernelError) -> MACAddress {
        let local: sockaddr_ll
        do {
            local = try Posix.localAddress(of: descriptor, as: sockaddr_ll.self, zero: sockaddr_ll(), object: interface)
        } catch {
            throw KernelError(error, operation: "read hardware address",
                              hint: "announcements need an Ethernet-like interface with a 6-byte MAC")
        }
        guard local.sll_ifindex == interfaceIndex, local.sll_halen != 0 else {
            throw KernelError(operation: "read hardware address", object: interface, errno: ENODEV,
                              hint: "interface \(interface) was removed since its announcement socket was opened")
        }
        guard local.sll_halen == 6 else {
            throw KernelError(operation: "read hardware address", object: interface, errno: EAFNOSUPPORT,
                              hint: "announcements need an Ethernet-like interface with a 6-byte MAC")
        }
        let a = local.sll_addr
        return MACAddress(octets: [a.0, a.1, a.2, a.3, a.4, a.5])!
    }

    /// Sends `payload` as one frame of `etherType` to `destination`.
    func send(_ payload: [UInt8], etherType: UInt16, destination: MACAddress, object: String) throws(KernelError) {
        var to = sockaddr_ll()
        to.sll_family = UInt16(AF_PACKET)
        to.sll_protocol = etherType.bigEndian
        to.sll_ifindex = interfaceIndex
        to.sll_halen = 6
        let d = destination.octets
        to.sll_addr = (d[0], d[1], d[2], d[3], d[4], d[5], 0, 0)
        let sent: Int?
        do {
            sent = try Posix.send(descriptor, payload, to: to, object: object)
        } catch {
            throw KernelError(error, operation: "send announcement",
                              hint: error.errno == ENETDOWN ? "interface \(interface) is down" : nil)
        }
        // A full socket buffer: the frame is dropped, as a lost frame would be.
        if sent == nil {
            throw KernelError(PosixError(call: "sendto", object: object, errno: EAGAIN), operation: "send announcement")
        }
    }
}

/// The live `AnnouncementSender`: AF_PACKET sockets opened on first use and kept per interface.
public final class PacketAnnouncementSender: AnnouncementSender {
    private let sockets = Mutex<[String: PacketSocket]>([:])
    private let procSys: String

    public init(procSys: String = "/proc/sys") {
        self.procSys = procSys
    }

    /// Opens the socket for `interface` ahead of time, so the first announcement pays no setup.
    public func prepare(interface: String) throws(KernelError) {
        _ = try socket(for: interface)
    }

    private func socket(for interface: String) throws(KernelError) -> PacketSocket {
        try sockets.withLock { table throws(KernelError) in
            if let s = table[interface] { return s }
            let s = try PacketSocket(interface: interface)
            s.ipv6Router = readForwarding(interface)
            table[interface] = s
            return s
        }
    }

    public func announce(_ vip: VirtualIP, arpMode: AnnounceSettings.ARPMode) throws(KernelError) {
        do {
            try send(vip, arpMode: arpMode)
        } catch let error where error.errno == ENXIO || error.errno == ENODEV {
            // The interface was re-created under the same name: reopen once.
            _ = sockets.withLock { $0.removeValue(forKey: vip.interface) }
            try send(vip, arpMode: arpMode)
        }
    }

    private func send(_ vip: VirtualIP, arpMode: AnnounceSettings.ARPMode) throws(KernelError) {
        let s = try socket(for: vip.interface)
        let object = "\(vip.address) on \(vip.interface)"
        switch vip.address.family {
        case .ipv4:
            let arp = GratuitousARP(address: vip.address, mac: try s.mac(), mode: arpMode)!
            try s.send(arp.payload, etherType: GratuitousARP.etherType, destination: .broadcast, object: object)
        case .ipv6:
            let na = NeighborAdvertisement(target: vip.address, mac: try s.mac(), router: s.ipv6Router)!
            try s.send(na.packet, etherType: NeighborAdvertisement.etherType,
                       destination: .ipv6Multicast(NeighborAdvertisement.allNodes), object: object)
        }
    }

    /// Whether `net.ipv6.conf.IF.forwarding` is on.
    private func readForwarding(_ interface: String) -> Bool {
        guard let bytes = try? Posix.readFile("\(procSys)/net/ipv6/conf/\(interface)/forwarding", limit: 1) else { return false }
        return bytes.first == UInt8(ascii: "1")
    }
}
