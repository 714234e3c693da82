/// One address as the kernel lists it on an interface (an RTM_NEWADDR object).
public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    public var interfaceIndex: Int32
    /// The interface's name; empty when the kernel did not say (rtnetlink addresses carry only the index).
    public var interface: String
    public var prefix: IPPrefix
    /// `IFA_F_*` bits: SECONDARY 0x01, NODAD 0x02, DADFAILED 0x08, TENTATIVE 0x40, PERMANENT 0x80.
    public var flags: UInt32
    /// The IPv4 label (`eth0:vip`), nil when the kernel reports none or for IPv6.
    public var label: String?

    public init(interfaceIndex: Int32, interface: String, prefix: IPPrefix, flags: UInt32, label: String? = nil) {
        self.interfaceIndex = interfaceIndex
        self.interface = interface
        self.prefix = prefix
        self.flags = flags
        self.label = label
    }

    public static let secondaryFlag: UInt32 = 0x01
    public static let noDADFlag: UInt32 = 0x02
    public static let dadFailedFlag: UInt32 = 0x08
    public static let tentativeFlag: UInt32 = 0x40

    /// True for an IPv4 address that is secondary in its subnet.
    public var isSecondary: Bool { flags & InterfaceAddress.secondaryFlag != 0 }

    /// True when this is the kernel's copy of `vip`: same interface, address and prefix length.
    public func matches(_ vip: VirtualIP) -> Bool {
        interface == vip.interface && prefix == vip.prefix
    }

    public var description: String { "\(prefix) on \(interface)" }
}

/// A link as the kernel reports it (an RTM_NEWLINK object).
public struct LinkState: Sendable, Hashable {
    public var index: Int32
    public var name: String
    /// `IFF_*` bits: UP 0x1, RUNNING 0x40, LOWER_UP 0x10000.
    public var flags: UInt32
    /// RFC 2863 operational state (IF_OPER_UP = 6).
    public var operState: UInt8
    /// The link's hardware address (IFLA_ADDRESS: 6 bytes on Ethernet); empty when the
    /// notification carried none.
    public var hardwareAddress: [UInt8]

    public init(index: Int32, name: String, flags: UInt32, operState: UInt8, hardwareAddress: [UInt8] = []) {
        self.index = index
        self.name = name
        self.flags = flags
        self.operState = operState
        self.hardwareAddress = hardwareAddress
    }

    public static let upFlag: UInt32 = 0x1
    public static let runningFlag: UInt32 = 0x40
    public static let lowerUpFlag: UInt32 = 0x10000

    /// Usable for traffic: administratively up and the carrier present (IFF_UP and IFF_RUNNING,
    /// which the kernel sets from the operational state).
    public var isUp: Bool { flags & LinkState.upFlag != 0 && flags & LinkState.runningFlag != 0 }

    /// `IFF_LOOPBACK` and `IFF_NOARP` (include/uapi/linux/if.h).
    public static let loopbackFlag: UInt32 = 0x8
    public static let noARPFlag: UInt32 = 0x80

    /// Whether an address here answers no ARP or neighbour solicitation on a shared link: a
    /// loopback or NOARP link (lo, a dummy), where a direct-routing real server keeps the VIP on
    /// purpose with arp_ignore. Such a copy of a VIP's address is left alone.
    public var isQuiet: Bool { flags & (LinkState.loopbackFlag | LinkState.noARPFlag) != 0 }
}
