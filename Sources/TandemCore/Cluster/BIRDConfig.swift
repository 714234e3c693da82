/// BIRD 2 configuration text for a cluster (`tandemctl bird-config`): one file per director,
/// and an example for the upstream router. Pure: config in, text out.
///
/// The director's file (BIRD 2.0 doc, sections "Kernel", "BFD", "BGP"; ecosystem.md §4.2):
/// - `protocol device`, without which BIRD cannot resolve interfaces ("unknown ifindex");
/// - per address family with VIPs, a `protocol kernel` on `cluster.route_table` with `learn`
///   (import routes other programs put there), importing only routes whose `krt_source` (the
///   rtnetlink protocol) is `cluster.route_protocol`, and `export none` (BIRD never writes the table);
/// - `protocol bfd` with the configured interval and multiplier, when BFD is on;
/// - per upstream peer, a `protocol bgp` from this director's address of the peer's family,
///   `bfd on`, importing nothing and exporting only the routes of the kernel protocol of that
///   family, with this director as next hop (`next hop self`).
///
/// The upstream router's file: `protocol kernel` with `merge paths on` so equal BGP routes from
/// several directors become one multipath kernel route (doc `krt-merge-paths`), and one
/// `protocol bgp` per director that imports only the VIPs' host routes.
public enum BIRDConfig {
    /// The name of the kernel protocol that learns Tandem's routes of `family`.
    public static func kernelProtocolName(_ family: AddressFamily) -> String {
        family == .ipv4 ? "tandem_vips4" : "tandem_vips6"
    }

    /// Why a file cannot be generated.
    public enum GenerationError: Error, Sendable, Hashable, CustomStringConvertible {
        case notACluster
        case unknownDirector(String, known: [String])
        case unknownPeer(String, known: [String])

        public var description: String {
            switch self {
            case .notACluster:
                return "the config has no cluster: section, so there is no BGP to configure (see examples/cluster.yaml)"
            case .unknownDirector(let name, let known):
                return "no director is called \"\(name)\"; the config names \(known.joined(separator: ", "))"
            case .unknownPeer(let name, let known):
                return "no BGP peer is called \"\(name)\"; the config names \(known.joined(separator: ", "))"
            }
        }
    }

    /// BIRD's config for director `name`.
    ///
    /// - Parameter source: the config file's name, quoted in the header comment.
    public static func director(_ config: Config, name: String, source: String) throws(GenerationError) -> String {
        guard let cluster = config.cluster else { throw .notACluster }
        guard let node = config.node(named: name) else { throw .unknownDirector(name, known: config.nodes.map(\.name)) }
        let bgp = cluster.bgp
        let families = vipFamilies(config)
        var out = header(config, source: source, what: "director \(node.name)")
        out += """
            # Tandem puts a blackhole host route for each VIP this director can serve into
            # kernel table \(cluster.routeTable) with protocol \(cluster.routeProtocol), and removes it when the director
            # cannot serve the VIP (stopping, maintenance, no live real server, IPVS not
            # verified). The kernel protocols below learn those routes as soon as the kernel
            # reports them; the BGP sessions announce them with this director's address as
            # next hop.


            """
        if let id = node.heartbeatAddresses.first(where: { $0.family == .ipv4 }) { out += "router id \(id);\n\n" }
        out += "protocol device {\n}\n"
        for family in families {
            out += """

                protocol kernel \(kernelProtocolName(family)) {
                    kernel table \(cluster.routeTable);
                    learn;               # import the routes Tandem puts there
                    scan time 10;        # also re-read the table every 10 s, should a notification be lost
                    \(channel(family)) {
                        import where krt_source = \(cluster.routeProtocol);
                        export none;     # BIRD never writes into table \(cluster.routeTable)
                    };
                }

                """
        }
        if bgp.bfd { out += "\n" + bfdProtocol(bgp) }
        for peer in bgp.peers {
            let family = peer.address.family
            guard let local = node.heartbeatAddresses.first(where: { $0.family == family }) else { continue }
            out += """

                protocol bgp \(peer.name) {
                    description "upstream router \(peer.address)";
                    local \(local) as \(bgp.localAS);
                    neighbor \(peer.address) as \(peer.remoteAS);

                """
            if let hold = bgp.holdTime { out += "    hold time \(hold.milliseconds / 1000);\n" }
            if bgp.bfd { out += "    bfd on;\n" }
            if families.contains(family) {
                out += """
                        \(channel(family)) {
                            import none;
                            export where proto = "\(kernelProtocolName(family))";
                            next hop self;
                        };
                    }

                    """
            } else {
                out += """
                        \(channel(family)) {
                            import none;
                            export none;     # no \(family) VIP
                        };
                    }

                    """
            }
        }
        return out
    }

    /// An example config for the upstream router that peers with every director as `peer`
    /// (the first peer when nil): ECMP over the directors through `merge paths`.
    public static func upstream(_ config: Config, peer peerName: String?, source: String) throws(GenerationError) -> String {
        guard let cluster = config.cluster else { throw .notACluster }
        let bgp = cluster.bgp
        let peer: BGPPeer
        if let peerName {
            guard let found = bgp.peers.first(where: { $0.name == peerName }) else {
                throw .unknownPeer(peerName, known: bgp.peers.map(\.name))
            }
            peer = found
        } else {
            peer = bgp.peers[0]
        }
        let family = peer.address.family
        let vips = config.virtualIPs.filter { $0.family == family }.map { "\($0.address)/\($0.family.bitWidth)" }
        var out = header(config, source: source, what: "the upstream router \(peer.name) (\(peer.address)), an example")
        out += """
            # Each director announces the VIPs it can serve; BIRD merges the equal routes into
            # one multipath kernel route, so the kernel spreads flows over the directors (ECMP).
            # For 5-tuple hashing rather than addresses only:
            #   sysctl net.ipv\(family == .ipv4 ? "4" : "6").fib_multipath_hash_policy=1


            """
        if family == .ipv4 { out += "router id \(peer.address);\n\n" }
        out += """
            protocol device {
            }

            protocol kernel {
                merge paths on limit \(ClusterSettings.directorCount.upperBound);   # one route, a next hop per director
                \(channel(family)) {
                    import none;
                    export where source = RTS_BGP;
                };
            }

            """
        if bgp.bfd { out += "\n" + bfdProtocol(bgp) }
        var used = Set<String>()
        for node in config.nodes {
            guard let address = node.heartbeatAddresses.first(where: { $0.family == family }) else { continue }
            var name = symbol(node.name)
            if !used.insert(name).inserted {
                var n = 2
                while !used.insert("\(name)_\(n)").inserted { n += 1 }
                name = "\(name)_\(n)"
            }
            let filter = vips.isEmpty ? "none" : "where net ~ [ \(vips.joined(separator: ", ")) ]"
            out += """

                protocol bgp \(name) {
                    description "director \(node.name)";
                    local \(peer.address) as \(peer.remoteAS);
                    neighbor \(address) as \(bgp.localAS);

                """
            if let hold = bgp.holdTime { out += "    hold time \(hold.milliseconds / 1000);\n" }
            if bgp.bfd { out += "    bfd on;\n" }
            out += """
                    \(channel(family)) {
                        import \(filter);
                        export none;
                    };
                }

                """
        }
        return out
    }

    /// The address families of the config's VIPs, IPv4 first.
    static func vipFamilies(_ config: Config) -> [AddressFamily] {
        [AddressFamily.ipv4, .ipv6].filter { f in config.virtualIPs.contains { $0.family == f } }
    }

    static func channel(_ family: AddressFamily) -> String { family == .ipv4 ? "ipv4" : "ipv6" }

    static func header(_ config: Config, source: String, what: String) -> String {
        """
        # BIRD 2 configuration for \(what).
        # Generated by tandemctl bird-config from \(source) (serial \(config.serial)); regenerate it
        # rather than editing it. Check it with: bird -p -c THIS_FILE


        """
    }

    static func bfdProtocol(_ bgp: BGPSettings) -> String {
        let ms = bgp.bfdInterval.milliseconds
        return """
            # A dead peer is detected after \(bgp.bfdMultiplier) missed packets \(ms) ms apart: \(bgp.bfdDetectionTime.milliseconds) ms.
            protocol bfd {
                interface "*" {
                    min rx interval \(ms) ms;
                    min tx interval \(ms) ms;
                    multiplier \(bgp.bfdMultiplier);
                };
            }

            """
    }

    /// A node name as a BIRD symbol: '-' and '.' become '_', and a leading digit gets a 'd_'.
    static func symbol(_ name: String) -> String {
        var s = String(name.map { $0 == "-" || $0 == "." ? "_" : $0 })
        if let first = s.first, first.isNumber { s = "d_" + s }
        return s
    }
}
