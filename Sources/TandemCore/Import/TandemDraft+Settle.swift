extension TandemDraft {
    /// Whether Tandem (and the kernel) take `name` as an interface name: 1…15 characters, no
    /// '/', ':' or blanks (IFNAMSIZ, dev_valid_name()).
    public static func isInterfaceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 15 && name != "." && name != ".."
            && !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace || !$0.isASCII || $0 == "\"" })
    }

    /// Makes the draft structurally acceptable to Tandem, the way the source daemon resolved the
    /// same conflicts where it has a rule (a later notify line replaces an earlier one) and the
    /// first definition otherwise, and says what it dropped. Run once, before rendering.
    public mutating func settle() -> [ImportFinding] {
        var findings: [ImportFinding] = []
        // Interfaces.
        virtualIPs = virtualIPs.filter { vip in
            if Self.isInterfaceName(vip.interface) { return true }
            findings.append(ImportFinding(.notCarriedOver, at: vip.source, "VIP \(vip.prefix): \"\(vip.interface)\" is not an interface name; the VIP is left out",
                                          advice: "add it to virtual_ips with its interface"))
            return false
        }
        virtualIPs = virtualIPs.compactMap { vip in
            guard let prefix = IPPrefix(vip.prefix), prefix.length > 0 else {
                findings.append(ImportFinding(.notCarriedOver, at: vip.source, "VIP \(vip.prefix) is not an address with a prefix length from 1 to \(vip.prefix.contains(":") ? 128 : 32); left out"))
                return nil
            }
            let a = prefix.address
            if a.isUnspecified || a.isMulticast || a.isLoopback || a.isLimitedBroadcast {
                findings.append(ImportFinding(.notCarriedOver, at: vip.source, "VIP \(a) is not a unicast address; left out"))
                return nil
            }
            var vip = vip
            if let label = vip.label, prefix.family == .ipv6 || !(label == vip.interface || label.hasPrefix(vip.interface + ":")) || label.utf8.count > 15 {
                findings.append(ImportFinding(.notCarriedOver, at: vip.source, "label \(label) of VIP \(vip.prefix) is left out: a label is for IPv4 only, is the interface name or starts with it and a colon, and has at most 15 characters"))
                vip.label = nil
            }
            return vip
        }
        var seenVIP = Set<String>()
        let heartbeat = Set(nodes.flatMap(\.addresses).compactMap { IPAddress($0).map { "\($0)" } })
        virtualIPs = virtualIPs.filter { vip in
            let address = String(vip.prefix.split(separator: "/").first ?? "")
            if heartbeat.contains(address) {
                findings.append(ImportFinding(.notCarriedOver, at: vip.source, "VIP \(address) is also a router's heartbeat address; a VIP must be an address of its own, so it is left out"))
                return false
            }
            return seenVIP.insert(address).inserted
        }
        for i in nodes.indices {
            var seen = Set<String>()
            nodes[i].trackInterfaces = nodes[i].trackInterfaces.filter { name, _ in
                guard Self.isInterfaceName(name) else {
                    findings.append(ImportFinding(.notCarriedOver, at: nodes[i].source, "track_interface \"\(name)\" is not an interface name and is left out"))
                    return false
                }
                return seen.insert(name).inserted
            }
        }
        if let s = sync {
            if !Self.isInterfaceName(s.interface) {
                findings.append(ImportFinding(.notCarriedOver, at: s.source, "sync daemon interface \"\(s.interface)\" is not an interface name; the sync daemon is left out"))
                sync = nil
            } else {
                if let g = s.group, !(IPAddress(g)?.isMulticast ?? false) {
                    findings.append(ImportFinding(.notCarriedOver, at: s.source, "sync group \(g) is not a multicast address and is left out"))
                    sync?.group = nil
                }
                if let id = s.syncID, !(0...255).contains(id) { sync?.syncID = nil; findings.append(ImportFinding(.notCarriedOver, at: s.source, "sync id \(id) is not 0…255 and is left out")) }
                if let p = s.port, !(1...65535).contains(p) { sync?.port = nil; findings.append(ImportFinding(.notCarriedOver, at: s.source, "sync port \(p) is not a port and is left out")) }
                if let t = s.ttl, !(1...255).contains(t) { sync?.ttl = nil; findings.append(ImportFinding(.notCarriedOver, at: s.source, "sync ttl \(t) is not 1…255 and is left out")) }
                if let m = s.maxLength, !(KernelLimits.minimumSyncMessageLength...KernelLimits.maximumSyncMessageLength(ipv6: false)).contains(m) {
                    sync?.maxLength = nil
                    findings.append(ImportFinding(.notCarriedOver, at: s.source, "sync maxlen \(m) is outside what the kernel takes and is left out"))
                }
            }
        }
        // Notify: a later line for the same role replaces the earlier one, as in keepalived.
        var lastForRole: [String: Int] = [:]
        for (i, entry) in notify.enumerated() { lastForRole[entry.0] = i }
        notify = notify.enumerated().filter { lastForRole[$0.element.0] == $0.offset }.map(\.element)
        // Services: one per IPVS key (keepalived would fail to add the second).
        var keys: [String: String] = [:]
        let vipAddresses = Set(virtualIPs.map { String($0.prefix.split(separator: "/").first ?? "") })
        virtualServers = virtualServers.filter { vs in
            let key = vs.fwmark.map { "fwmark \($0) \(vs.family ?? "ipv4")" } ?? "\(vs.protocol ?? "tcp") \(vs.address ?? ""):\(vs.port ?? 0)"
            if let first = keys[key] {
                findings.append(ImportFinding(.notCarriedOver, at: vs.source, "\(key) is defined again (first as \(first)); the output keeps the first",
                                              advice: "merge the two definitions"))
                return false
            }
            if let a = vs.address, !vipAddresses.contains(a) {
                findings.append(ImportFinding(.notCarriedOver, at: vs.source, "virtual server \(vs.name): its address \(a) is not among the VIPs, so it is left out",
                                              advice: "add the address to virtual_ips"))
                return false
            }
            keys[key] = vs.name
            return true
        }
        // A real or sorry server cannot be one of the pair's VIPs (it would route to itself).
        let vips = Set(virtualIPs.compactMap { IPPrefix($0.prefix).map { "\($0.address)" } })
        for i in virtualServers.indices {
            virtualServers[i].realServers = virtualServers[i].realServers.filter { rs in
                guard let a = IPAddress(rs.address), !vips.contains("\(a)") else {
                    findings.append(ImportFinding(.notCarriedOver, at: rs.source, "real server \(rs.address) is one of the VIPs (or no address); left out"))
                    return false
                }
                return true
            }
            if let sorry = virtualServers[i].sorryServer, vips.contains(sorry.address) {
                findings.append(ImportFinding(.notCarriedOver, at: virtualServers[i].source, "sorry server \(sorry.address) is one of the VIPs; left out"))
                virtualServers[i].sorryServer = nil
            }
            let servicePort = virtualServers[i].port
            if let sorry = virtualServers[i].sorryServer,
               virtualServers[i].realServers.contains(where: { $0.address == sorry.address && ($0.port ?? servicePort) == (sorry.port ?? servicePort) }) {
                findings.append(ImportFinding(.notCarriedOver, at: virtualServers[i].source,
                    "sorry server \(sorry.address) is also a real server of the service (keepalived allows it); Tandem needs a separate server, so it is left out"))
                virtualServers[i].sorryServer = nil
            }
            for j in virtualServers[i].realServers.indices {
                let rs = virtualServers[i].realServers[j]
                if let lower = rs.lowerThreshold, lower > (rs.upperThreshold ?? 0) {
                    findings.append(ImportFinding(.notCarriedOver, at: rs.source, "lower threshold \(lower) of \(rs.address) is above its upper threshold; left out"))
                    virtualServers[i].realServers[j].lowerThreshold = nil
                }
                if let u = rs.upperThreshold, u > Int(Int32.max) {
                    virtualServers[i].realServers[j].upperThreshold = nil
                    virtualServers[i].realServers[j].lowerThreshold = nil
                    findings.append(ImportFinding(.notCarriedOver, at: rs.source, "upper threshold \(u) of \(rs.address) is above 2147483647; thresholds left out"))
                }
            }
        }
        return findings
    }
}
