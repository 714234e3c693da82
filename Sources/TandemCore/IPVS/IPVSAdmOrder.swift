/// The order `ipvsadm -Ln` and `ipvsadm -S -n` list services and real servers in, reproduced
/// exactly, quirks included.
///
/// ipvsadm sorts the kernel's dump with glibc `qsort` and two comparators (libipvs/libipvs.c
/// `ipvs_cmp_services`, `ipvs_cmp_dests`): services by fwmark, family, protocol, address, port;
/// real servers by address, port. Each step subtracts two 32-bit unsigned values into a signed
/// `int`, so two addresses (or fwmarks) more than 2^31 apart compare "backwards": 192.0.2.10
/// sorts before 10.10.0.1, and fwmark 3000000000 before 1. (Address words are compared in host
/// order; IPv6 addresses word by word.)
///
/// That relation is an order only while the values of one list lie within half of the 32-bit
/// circle. When they do not (say 10.0.0.1, 100.0.0.1 and 200.0.0.1: each "precedes" the next
/// and the last the first), the result depends on the algorithm and the input order. glibc's
/// qsort is a top-down merge sort (stdlib/msort.c `msort_with_tmp`: split n/2, take from the left
/// half while `cmp <= 0`), reproduced here, and the input is the kernel's dump order:
/// - real servers: the kernel links a new one at the head of its service's list
///   (ip_vs_ctl.c `__ip_vs_update_dest`: `list_add_rcu`), so the dump is the reverse of the
///   order they were added in;
/// - services: the kernel's hash-table order, whose bucket index mixes in a kernel pointer
///   (ip_vs_ctl.c `ip_vs_svc_hashkey`), so it cannot be predicted from outside the kernel.
///
/// So a listing read from the kernel (`tandemctl ipvs show`) matches ipvsadm's byte for byte,
/// always. A table computed from a config (`tandemctl show-config`) matches whenever
/// ipvsadm's relation orders its services (and, given the order Tandem adds real servers in,
/// its real servers always); for services whose addresses wrap around as above, ipvsadm's own
/// output changes with the kernel's hash layout, and no tool can predict it.
public enum IPVSAdmOrder {
    /// ipvsadm's `a - b` of two unsigned 32-bit values, read as a signed int.
    @inline(__always)
    static func difference(_ a: UInt32, _ b: UInt32) -> Int {
        Int(Int32(truncatingIfNeeded: a &- b))
    }

    /// The four host-order 32-bit words of an address as the kernel's `nf_inet_addr` holds it:
    /// an IPv4 address fills the first word, the rest are 0.
    static func words(_ address: IPAddress) -> (UInt32, UInt32, UInt32, UInt32) {
        switch address {
        case .v4(let v): return (v, 0, 0, 0)
        case .v6(let high, let low):
            return (UInt32(truncatingIfNeeded: high >> 32), UInt32(truncatingIfNeeded: high),
                    UInt32(truncatingIfNeeded: low >> 32), UInt32(truncatingIfNeeded: low))
        }
    }

    /// `ipvs_cmp_*`'s address step: word by word when the left one is IPv6, else the first word.
    static func compareAddresses(_ a: IPAddress, _ b: IPAddress) -> Int {
        let x = words(a), y = words(b)
        guard a.family == .ipv6 else { return difference(x.0, y.0) }
        var r = difference(x.0, y.0)
        if r == 0 { r = difference(x.1, y.1) }
        if r == 0 { r = difference(x.2, y.2) }
        if r == 0 { r = difference(x.3, y.3) }
        return r
    }

    /// libipvs.c `ipvs_cmp_services`: negative when `a` is listed first.
    public static func compare(_ a: IPVSServiceKey, _ b: IPVSServiceKey) -> Int {
        func parts(_ k: IPVSServiceKey) -> (mark: UInt32, family: Int, proto: Int, address: IPAddress, port: Int) {
            switch k {
            case .address(let p, let address, let port):
                return (0, address.family == .ipv4 ? 2 : 10, Int(p.rawValue), address, Int(port))
            case .fwmark(let family, let mark):
                // The kernel reports a fwmark service's address and port as 0; its protocol
                // cannot decide, since (family, mark) is unique.
                return (mark, family == .ipv4 ? 2 : 10, 0, family == .ipv4 ? .v4(0) : .v6(high: 0, low: 0), 0)
            }
        }
        let x = parts(a), y = parts(b)
        var r = difference(x.mark, y.mark)
        if r == 0 { r = x.family - y.family }
        if r == 0 { r = x.proto - y.proto }
        if r == 0 { r = compareAddresses(x.address, y.address) }
        if r == 0 { r = x.port - y.port }
        return r
    }

    /// libipvs.c `ipvs_cmp_dests`: negative when `a` is listed first.
    public static func compare(_ a: IPVSDestinationKey, _ b: IPVSDestinationKey) -> Int {
        let r = compareAddresses(a.address, b.address)
        return r != 0 ? r : Int(a.port) - Int(b.port)
    }

    /// glibc's merge sort (stdlib/msort.c `msort_with_tmp`) with a three-way comparator.
    static func mergeSort<T>(_ items: [T], _ cmp: (T, T) -> Int) -> [T] {
        guard items.count > 1 else { return items }
        let n1 = items.count / 2
        let left = mergeSort(Array(items[..<n1]), cmp)
        let right = mergeSort(Array(items[n1...]), cmp)
        var out: [T] = []
        out.reserveCapacity(items.count)
        var i = 0, j = 0
        while i < left.count && j < right.count {
            if cmp(left[i], right[j]) <= 0 { out.append(left[i]); i += 1 } else { out.append(right[j]); j += 1 }
        }
        out.append(contentsOf: left[i...])
        out.append(contentsOf: right[j...])
        return out
    }

    /// Services in ipvsadm's order, given the kernel's dump order.
    public static func services<T>(dumpOrder: [T], key: (T) -> IPVSServiceKey) -> [T] {
        mergeSort(dumpOrder) { compare(key($0), key($1)) }
    }

    /// One service's real servers in ipvsadm's order, given the kernel's dump order.
    public static func destinations<T>(dumpOrder: [T], key: (T) -> IPVSDestinationKey) -> [T] {
        mergeSort(dumpOrder) { compare(key($0), key($1)) }
    }

    /// `table` as ipvsadm lists it after Tandem installed it into an empty kernel: the planner
    /// adds services and real servers in the table's own order, so each service's dump is that
    /// order reversed; services are sorted from the table's order (see the type's notes).
    public static func installed(_ table: IPVSTable) -> [IPVSServiceEntry] {
        services(dumpOrder: table.entries, key: \.service.key).map { entry in
            IPVSServiceEntry(service: entry.service,
                             destinations: destinations(dumpOrder: entry.destinations.reversed(), key: \.key))
        }
    }
}
