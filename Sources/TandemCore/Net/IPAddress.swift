#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The two address families Tandem handles. Raw values are the Linux `AF_*` numbers, which is
/// what the IPVS family's `AF` attributes carry.
public enum AddressFamily: UInt16, Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    case ipv4 = 2
    case ipv6 = 10

    public var description: String { self == .ipv4 ? "IPv4" : "IPv6" }
    /// Width of an address of this family, in bits.
    public var bitWidth: Int { self == .ipv4 ? 32 : 128 }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An IPv4 or IPv6 address, parsed strictly and printed the way `inet_ntop` (and therefore
/// `ip` and `ipvsadm`) prints it.
///
/// Stored as integers so that comparison and hashing are cheap; `bytes` gives the network-order
/// form the kernel wants.
public enum IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    case v4(UInt32)
    case v6(high: UInt64, low: UInt64)

    /// Parses dotted-quad IPv4 (exactly four decimal parts, no leading zeros beyond "0") or IPv6
    /// text (RFC 4291 §2.2, including `::` and a trailing dotted quad). Returns nil otherwise.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        if s.contains(":") {
            guard let parsed = IPAddress.parseV6(s) else { return nil }
            self = parsed
        } else {
            guard let v = IPAddress.parseV4(Substring(s)) else { return nil }
            self = .v4(v)
        }
    }

    /// Builds an address from network-order bytes: 4 for IPv4, 16 for IPv6.
    public init?(bytes: some Collection<UInt8>, family: AddressFamily) {
        let b = Array(bytes)
        switch family {
        case .ipv4:
            guard b.count >= 4 else { return nil }
            self = .v4(b[0..<4].reduce(0) { $0 << 8 | UInt32($1) })
        case .ipv6:
            guard b.count >= 16 else { return nil }
            let hi = b[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let lo = b[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            self = .v6(high: hi, low: lo)
        }
    }

    /// The IPv4 address an IPv4-mapped IPv6 address (::ffff:0:0/96, RFC 4291 §2.5.5.2) stands
    /// for; nil for any other address.
    public var mappedIPv4: IPAddress? {
        guard case .v6(let high, let low) = self, high == 0, low >> 32 == 0xFFFF else { return nil }
        return .v4(UInt32(truncatingIfNeeded: low))
    }

    public var family: AddressFamily {
        if case .v4 = self { return .ipv4 }
        return .ipv6
    }

    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let v):
            return (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) }
        case .v6(let hi, let lo):
            return (0..<8).map { UInt8(truncatingIfNeeded: hi >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: lo >> (56 - 8 * $0)) }
        }
    }

    /// True for 0.0.0.0 and ::.
    public var isUnspecified: Bool {
        switch self {
        case .v4(let v): return v == 0
        case .v6(let hi, let lo): return hi == 0 && lo == 0
        }
    }

    /// True for 224.0.0.0/4 and ff00::/8.
    public var isMulticast: Bool {
        switch self {
        case .v4(let v): return v >> 28 == 0xE
        case .v6(let hi, _): return hi >> 56 == 0xFF
        }
    }

    /// True for 127.0.0.0/8 and ::1.
    public var isLoopback: Bool {
        switch self {
        case .v4(let v): return v >> 24 == 127
        case .v6(let hi, let lo): return hi == 0 && lo == 1
        }
    }

    /// True for 255.255.255.255.
    public var isLimitedBroadcast: Bool {
        if case .v4(let v) = self { return v == 0xFFFF_FFFF }
        return false
    }

    /// The address with every bit past `prefixLength` cleared.
    public func masked(prefixLength: Int) -> IPAddress {
        switch self {
        case .v4(let v):
            let p = max(0, min(32, prefixLength))
            let mask: UInt32 = p == 0 ? 0 : ~UInt32(0) << (32 - p)
            return .v4(v & mask)
        case .v6(let hi, let lo):
            let p = max(0, min(128, prefixLength))
            let hiMask: UInt64 = p >= 64 ? ~0 : (p == 0 ? 0 : ~UInt64(0) << (64 - p))
            let loMask: UInt64 = p <= 64 ? 0 : (p == 128 ? ~0 : ~UInt64(0) << (128 - p))
            return .v6(high: hi & hiMask, low: lo & loMask)
        }
    }

    public var description: String {
        switch self {
        case .v4(let v):
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        case .v6(let hi, let lo):
            return IPAddress.formatV6(hi: hi, lo: lo)
        }
    }

    /// The form used after a port: IPv6 in brackets, as `ipvsadm` and URLs write it.
    public var bracketed: String {
        family == .ipv6 ? "[\(description)]" : description
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        switch (lhs, rhs) {
        case (.v4(let a), .v4(let b)): return a < b
        case (.v4, .v6): return true
        case (.v6, .v4): return false
        case (.v6(let ah, let al), .v6(let bh, let bl)): return (ah, al) < (bh, bl)
        }
    }

    // MARK: - Parsing

    static func parseV4(_ s: Substring) -> UInt32? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            if part.count > 1 && part.first == "0" { return nil }
            guard let n = UInt32(part), n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    static func parseV6(_ s: String) -> IPAddress? {
        guard !s.isEmpty, s.count <= 45 else { return nil }
        var groups: [UInt16] = []
        var tailGroups: [UInt16] = []
        var sawDoubleColon = false
        let halves = s.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        sawDoubleColon = halves.count == 2

        func parseGroups(_ part: String, allowTrailingV4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            var out: [UInt16] = []
            for (i, field) in fields.enumerated() {
                if i == fields.count - 1, allowTrailingV4, field.contains(".") {
                    guard let v4 = parseV4(field) else { return nil }
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(v4 & 0xFFFF))
                    continue
                }
                guard (1...4).contains(field.count), field.allSatisfy({ $0.isHexDigit && $0.isASCII }),
                      let g = UInt16(field, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }

        if sawDoubleColon {
            guard let head = parseGroups(halves[0], allowTrailingV4: false),
                  let tail = parseGroups(halves[1], allowTrailingV4: true) else { return nil }
            groups = head
            tailGroups = tail
            guard groups.count + tailGroups.count <= 7 else { return nil }
            groups += Array(repeating: 0, count: 8 - groups.count - tailGroups.count) + tailGroups
        } else {
            guard let all = parseGroups(s, allowTrailingV4: true), all.count == 8 else { return nil }
            groups = all
        }
        let hi = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        let lo = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
        return .v6(high: hi, low: lo)
    }

    /// Formats like glibc's `inet_ntop`: lowercase hex without leading zeros, the longest run
    /// of two or more zero groups (the first on a tie) written as `::`, and IPv4-mapped or
    /// IPv4-compatible addresses ending in a dotted quad.
    static func formatV6(hi: UInt64, lo: UInt64) -> String {
        let groups: [UInt16] = (0..<4).map { UInt16(truncatingIfNeeded: hi >> (48 - 16 * $0)) }
            + (0..<4).map { UInt16(truncatingIfNeeded: lo >> (48 - 16 * $0)) }
        var bestStart = -1, bestLen = 0, curStart = -1, curLen = 0
        for (i, g) in groups.enumerated() {
            if g == 0 {
                if curStart < 0 { curStart = i; curLen = 1 } else { curLen += 1 }
                if curLen > bestLen { bestStart = curStart; bestLen = curLen }
            } else {
                curStart = -1; curLen = 0
            }
        }
        if bestLen < 2 { bestStart = -1 }
        var out = ""
        var i = 0
        while i < 8 {
            if i == bestStart {
                out += "::"
                i += bestLen
                continue
            }
            if i > 0 && !out.hasSuffix(":") { out += ":" }
            // Embedded IPv4 (glibc: ::a.b.c.d for compatible, ::ffff:a.b.c.d for mapped).
            if i == 6 && bestStart == 0 && (bestLen == 6 || (bestLen == 5 && groups[5] == 0xFFFF)) {
                let v4 = UInt32(groups[6]) << 16 | UInt32(groups[7])
                out += IPAddress.v4(v4).description
                break
            }
            out += String(groups[i], radix: 16)
            i += 1
        }
        return out
    }
}

/// An address with a prefix length, as written on an interface: `192.0.2.10/24`, `2001:db8::10/64`.
public struct IPPrefix: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var length: Int

    public init(address: IPAddress, length: Int) {
        self.address = address
        self.length = length
    }

    /// Parses `ADDRESS/LENGTH`. The length is required and must fit the family.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]),
              parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), !parts[1].isEmpty, parts[1].count <= 3,
              let length = Int(parts[1]), length >= 0, length <= address.family.bitWidth else { return nil }
        self.init(address: address, length: length)
    }

    public var family: AddressFamily { address.family }

    /// True when `other` lies in this prefix's network.
    public func contains(_ other: IPAddress) -> Bool {
        other.family == address.family
            && other.masked(prefixLength: length) == address.masked(prefixLength: length)
    }

    public var description: String { "\(address)/\(length)" }

    public static func < (lhs: IPPrefix, rhs: IPPrefix) -> Bool {
        (lhs.address, lhs.length) < (rhs.address, rhs.length)
    }
}
