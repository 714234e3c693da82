import Glibc
import Synchronization
import TandemCore

/// The kernel's address table, changed through one rtnetlink command socket (libnl-route).
///
/// - Claim sends RTM_NEWADDR without NLM_F_REPLACE: a present address answers EEXIST, which is
///   reported as `.alreadyPresent` and leaves the kernel untouched (REPLACE would rewrite the
///   address and send a notification). IPv6 VIPs carry IFA_F_NODAD so they are usable at once
///   and cannot stay "dadfailed" after a split brain; IPv4 VIPs carry their label.
/// - Release sends RTM_DELADDR; EADDRNOTAVAIL (not there) is `.alreadyAbsent`.
/// - Secondary addresses: deleting the primary IPv4 address of a subnet deletes every secondary
///   in it unless `promote_secondaries` is on (net/ipv4/devinet.c `__inet_del_ifa`). Before such
///   a delete, release turns `net.ipv4.conf.IF.promote_secondaries` on and afterwards restores
///   the previous value, so the operator's addresses survive and the sysctl is left as found.
///
/// One socket, one lock: calls from several threads are serialised.
public final class LiveAddressTable: AddressTable {
    private let socket: Mutex<RouteSocket>
    public let ownPorts: Set<UInt32>
    /// Where the sysctl tree is (tests may point it elsewhere).
    private let procSys: String

    public init(procSys: String = "/proc/sys") throws(KernelError) {
        let s = try RouteSocket(purpose: "address commands")
        ownPorts = [s.localPort]
        socket = Mutex(s)
        self.procSys = procSys
    }

    public func claim(_ vip: VirtualIP) throws(KernelError) -> AddressChange {
        let object = "\(vip.prefix) on \(vip.interface)"
        let index = try lookUpInterfaceIndex(of: vip.interface, for: "VIP \(vip.prefix)")
        let flags: UInt32 = vip.prefix.family == .ipv6 ? InterfaceAddress.noDADFlag : 0
        let label = vip.prefix.family == .ipv4 ? vip.label : nil
        let rc = try socket.withLock { s throws(KernelError) in
            try s.addAddress(vip.prefix, interfaceIndex: index, label: label, flags: flags, object: object)
        }
        switch rc {
        case 0: return .added
        case EEXIST: return .alreadyPresent
        default:
            throw KernelError(operation: "add address", object: object, errno: rc, hint: LiveAddressTable.hint(rc, vip))
        }
    }

    /// Removes `vip` from its interface. An interface that does not exist (if_nametoindex:
    /// ENODEV) holds no address, so the VIP is `.alreadyAbsent`: an error there would be retried
    /// for as long as the interface stays away (a VIP on a mistyped interface was retried, and
    /// logged, every 100 ms for good).
    public func release(_ vip: VirtualIP) throws(KernelError) -> AddressChange {
        let object = "\(vip.prefix) on \(vip.interface)"
        let index: Int32
        do {
            index = try lookUpInterfaceIndex(of: vip.interface, for: "VIP \(vip.prefix)")
        } catch {
            if error.errno == ENODEV { return .alreadyAbsent }
            throw error
        }
        var restore: String?
        if vip.prefix.family == .ipv4 {
            let all = try socket.withLock { s throws(KernelError) in try s.dumpAddresses() }
            if LiveAddressTable.wouldTakeSecondaries(vip, interfaceIndex: index, addresses: all) {
                restore = try enablePromoteSecondaries(vip.interface)
            }
        }
        defer { if let restore { try? writeSysctl(promoteSecondariesPath(vip.interface), restore) } }
        let rc = try socket.withLock { s throws(KernelError) in
            try s.deleteAddress(vip.prefix, interfaceIndex: index, object: object)
        }
        switch rc {
        case 0: return .removed
        case EADDRNOTAVAIL: return .alreadyAbsent
        default:
            throw KernelError(operation: "delete address", object: object, errno: rc, hint: LiveAddressTable.hint(rc, vip))
        }
    }

    public func addresses() throws(KernelError) -> [InterfaceAddress] {
        try socket.withLock { s throws(KernelError) in try s.dumpAddresses() }
    }

    public func links() throws(KernelError) -> [LinkState] {
        try socket.withLock { s throws(KernelError) in try s.dumpLinks() }
    }

    /// True when `vip` is the primary address of its subnet on the interface and other addresses
    /// of the same subnet (its secondaries: same prefix length, same network) would go with it.
    static func wouldTakeSecondaries(_ vip: VirtualIP, interfaceIndex: Int32, addresses: [InterfaceAddress]) -> Bool {
        let onLink = addresses.filter { $0.interfaceIndex == interfaceIndex && $0.prefix.family == .ipv4 }
        guard let own = onLink.first(where: { $0.prefix == vip.prefix }), !own.isSecondary else { return false }
        return onLink.contains { other in
            other.prefix != vip.prefix && other.isSecondary && other.prefix.length == vip.prefix.length
                && vip.prefix.contains(other.prefix.address)
        }
    }

    private func promoteSecondariesPath(_ interface: String) -> String {
        "\(procSys)/net/ipv4/conf/\(interface)/promote_secondaries"
    }

    /// Turns promotion on for `interface` unless it already is (there or in `all`); returns the
    /// value to restore afterwards, or nil when nothing was changed.
    private func enablePromoteSecondaries(_ interface: String) throws(KernelError) -> String? {
        let path = promoteSecondariesPath(interface)
        let allOn = readSysctl("\(procSys)/net/ipv4/conf/all/promote_secondaries") == "1"
        let current = readSysctl(path)
        if allOn || current == "1" { return nil }
        try writeSysctl(path, "1")
        return current ?? "0"
    }

    private func readSysctl(_ path: String) -> String? {
        // The first line, as fgets would give it: a sysctl is one short line.
        guard let bytes = try? Posix.readFile(path, limit: 31), !bytes.isEmpty else { return nil }
        let line = bytes.prefix { $0 != 0 }.split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        return String(decoding: line, as: UTF8.self).trimmingSuffix()
    }

    private func writeSysctl(_ path: String, _ value: String) throws(KernelError) {
        let fd: Int32
        do {
            fd = try Posix.open(path, flags: O_WRONLY)
        } catch {
            throw KernelError(error, operation: "write sysctl",
                              hint: "Tandem needs write access to /proc/sys to keep secondary addresses on release")
        }
        defer { Posix.close(fd) }
        do {
            try Posix.writeAll(fd, Array((value + "\n").utf8), object: path)
        } catch {
            throw KernelError(error, operation: "write sysctl")
        }
    }

    static func hint(_ errno: Int32, _ vip: VirtualIP) -> String? {
        switch errno {
        case EPERM, EACCES: return "Tandem needs CAP_NET_ADMIN to change addresses"
        case ENODEV: return "interface \(vip.interface) is gone; check virtual_ips"
        case EINVAL: return "the kernel refused \(vip.prefix) (label \(vip.label ?? "none")); check the prefix and label"
        default: return nil
        }
    }
}

extension String {
    fileprivate func trimmingSuffix() -> String {
        var s = Substring(self)
        while let last = s.last, last == "\n" || last == " " { s = s.dropLast() }
        return String(s)
    }
}
