extension Config {
    /// Why a daemon could not tell which node of the pair it is.
    public enum IdentityError: Error, Sendable, Hashable, CustomStringConvertible {
        case unknownNode(String, known: [String])
        case noLocalAddress(known: [String])
        case ambiguous([String])

        public var description: String {
            switch self {
            case .unknownNode(let name, let known):
                return "no node is called \"\(name)\"; the config names \(known.joined(separator: " and "))"
            case .noLocalAddress(let known):
                return "this host owns none of the heartbeat addresses of \(known.joined(separator: " or ")): pass --node NAME, or add the address to an interface"
            case .ambiguous(let names):
                return "this host owns heartbeat addresses of both \(names.joined(separator: " and ")): pass --node NAME"
            }
        }
    }

    /// Which node this daemon is: the one named by `--node`, else the one owning one of the
    /// host's addresses (as pulse decided primary or backup).
    public func identifyNode(requested: String?, localAddresses: Set<IPAddress>) -> Result<Node, IdentityError> {
        let names = nodes.map(\.name)
        if let requested {
            guard let node = node(named: requested) else { return .failure(.unknownNode(requested, known: names)) }
            return .success(node)
        }
        let owned = nodes.filter { !Set($0.heartbeatAddresses).isDisjoint(with: localAddresses) }
        switch owned.count {
        case 1: return .success(owned[0])
        case 0: return .failure(.noLocalAddress(known: names))
        default: return .failure(.ambiguous(owned.map(\.name)))
        }
    }
}
