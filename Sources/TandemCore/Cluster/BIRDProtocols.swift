/// One BGP session of this director's BIRD, as `birdc show protocols` lists it.
public struct BGPSessionStatus: Codable, Sendable, Hashable {
    /// BIRD's protocol name (`cluster.bgp.peers[].name`: `upstream`, `upstream2`…).
    public var name: String
    /// BIRD's protocol state: `up` (Established), `start` (connecting), `down`, `flush`.
    public var state: String
    /// When it entered that state, in BIRD's protocol time format (`05:49:01.156` today).
    public var since: String
    /// The BGP state and last error (`Established`, `Active`, `Connect  Socket: Connection refused`).
    public var info: String

    public init(name: String, state: String, since: String, info: String) {
        self.name = name
        self.state = state
        self.since = since
        self.info = info
    }

    /// `upstream: up since 05:49:01.156 (Established)`.
    public var line: String { "\(name): \(state) since \(since)" + (info.isEmpty ? "" : " (\(info))") }
}

/// Reads the output of `birdc show protocols` (BIRD 2: a `BIRD x.y.z ready.` line, a header
/// `Name Proto Table State Since Info`, one protocol per line, columns separated by spaces,
/// nest/proto.c `proto_cmd_show`). Pure.
public enum BIRDProtocols {
    /// The BGP protocols, in BIRD's order.
    ///
    /// - Throws: `BIRDOutputError` when there is no header line (not BIRD's output: an error text,
    ///   say "Unable to connect to server control socket").
    public static func bgpSessions(_ output: String) throws(BIRDOutputError) -> [BGPSessionStatus] {
        let lines = output.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.firstIndex(where: { $0.split(separator: " ").first == "Name" }) else {
            throw BIRDOutputError(text: lines.first { !$0.isEmpty } ?? "no output")
        }
        return lines[(header + 1)...].compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 5, fields[1] == "BGP" else { return nil }
            return BGPSessionStatus(name: fields[0], state: fields[3], since: fields[4], info: fields.dropFirst(5).joined(separator: " "))
        }
    }
}

/// `birdc` said something other than a protocol table.
public struct BIRDOutputError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Its first line.
    public var text: String
    public var description: String { "birdc did not list protocols: \(text)" }
}
