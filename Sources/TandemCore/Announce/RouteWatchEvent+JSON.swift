extension RouteWatchEvent {
    /// The event as `tandemctl vip monitor` prints it: one JSON object with `ts_ns` (when it was
    /// seen, CLOCK_REALTIME nanoseconds), `event`, and the interface, VIP and origin it names.
    public func json(timestampNanoseconds: UInt64) -> JSONValue {
        var fields: [String: JSONValue] = ["ts_ns": .int(Int64(clamping: timestampNanoseconds))]
        switch self {
        case .linkDown(let interface):
            fields["event"] = "link_down"
            fields["interface"] = .string(interface)
        case .linkUp(let interface):
            fields["event"] = "link_up"
            fields["interface"] = .string(interface)
        case .linkRemoved(let interface, let why):
            fields["event"] = "link_removed"
            fields["interface"] = .string(interface)
            switch why {
            case .deleted: fields["reason"] = "deleted"
            case .missing: fields["reason"] = "missing"
            case .renamed(let to):
                fields["reason"] = "renamed"
                fields["renamed_to"] = .string(to)
            }
        case .linkAddressChanged(let interface, let from, let to):
            fields["event"] = "link_address_changed"
            fields["interface"] = .string(interface)
            fields["from"] = .string(from)
            fields["to"] = .string(to)
        case .vipRemoved(let vip, let origin):
            fields["event"] = "vip_removed"
            fields["vip"] = .string(vip.prefix.description)
            fields["interface"] = .string(vip.interface)
            fields["origin"] = .string(origin.rawValue)
        case .vipAdded(let vip, let origin):
            fields["event"] = "vip_added"
            fields["vip"] = .string(vip.prefix.description)
            fields["interface"] = .string(vip.interface)
            fields["origin"] = .string(origin.rawValue)
        case .vipCopyAdded(let vip, let copy, let origin):
            fields["event"] = "vip_copy_added"
            fields["vip"] = .string(vip.prefix.description)
            fields["interface"] = .string(vip.interface)
            fields["copy"] = .string(copy.prefix.description)
            fields["copy_interface"] = .string(copy.interface)
            fields["origin"] = .string(origin.rawValue)
        case .overrun:
            fields["event"] = "overrun"
        case .hostChanged:
            fields["event"] = "host_changed"
        }
        return .object(fields)
    }
}
