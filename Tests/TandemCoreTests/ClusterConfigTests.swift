import Foundation
import Testing
@testable import TandemCore

/// A small valid cluster; tests edit it line by line to provoke one problem at a known line.
let minimalClusterConfig = """
serial: 3
nodes:
  - name: d1
    addresses: [10.0.0.1]
  - name: d2
    addresses: [10.0.0.2]
heartbeat:
  key_file: /etc/tandem/key
cluster:
  route_table: 100
  route_protocol: 250
  bgp:
    local_as: 65010
    peers:
      - {address: 10.0.0.254, as: 65000}
virtual_ips:
  - address: 10.0.5.10/32
virtual_servers:
  - name: web
    address: 10.0.5.10
    port: 80
    scheduler: mh
    scheduler_flags: [mh-fallback]
    forwarding: dr
    real_servers:
      - address: 10.0.0.21
sync:
  interface: eth0
"""

/// `minimalClusterConfig` with line `n` (1-based) replaced.
func minimalCluster(replacingLine n: Int, with text: String) -> String {
    var lines = minimalClusterConfig.components(separatedBy: "\n")
    lines[n - 1] = text
    return lines.joined(separator: "\n")
}

/// The warnings of a valid config, as check-config prints them.
func warnings(of yaml: String) throws -> [String] {
    try ConfigParser.parseWithWarnings(yaml: yaml).warnings.map(\.description)
}

@Suite struct ClusterConfigTests {
    @Test func minimalClusterParsesWithDefaultsAndNoWarnings() throws {
        let result = try ConfigParser.parseWithWarnings(yaml: minimalClusterConfig)
        #expect(result.warnings.isEmpty, "\(result.warnings)")
        let cluster = try #require(result.config.cluster)
        #expect(cluster == ClusterSettings(vipInterface: "lo", routeTable: 100, routeProtocol: 250,
                                           bgp: BGPSettings(localAS: 65010, peers: [BGPPeer(address: IPAddress("10.0.0.254")!, remoteAS: 65000, name: "upstream1")])))
        #expect(cluster.bgp.bfd && cluster.bgp.bfdDetectionTime == .milliseconds(500) && cluster.bgp.holdTime == nil)
        #expect(result.config.virtualIPs == [VirtualIP(prefix: IPPrefix("10.0.5.10/32")!, interface: "lo")])
        #expect(result.config.isCluster)
    }

    @Test func theExampleIsACluster() throws {
        let config = try ConfigParser.load(path: repositoryRoot.appendingPathComponent("examples/cluster.yaml").path)
        #expect(config.nodes.map(\.name) == ["director-1", "director-2", "director-3"])
        #expect(config.cluster?.bgp.holdTime == .seconds(9))
        #expect(config.cluster?.bgp.peers.map(\.name) == ["upstream"])
    }

    /// A pair's canonical form has no cluster key, so adding the feature changed no pair's digest
    /// (the pinned fixtures of ConfigCanonicalFormTests say the same for every example).
    @Test func canonicalFormHasClusterOnlyForAClusterAndItChangesTheDigest() throws {
        let pair = try ConfigParser.parse(yaml: minimalConfig)
        guard case .object(let fields) = pair.canonical else { Issue.record("not an object"); return }
        #expect(fields["cluster"] == nil)
        let cluster = try ConfigParser.parse(yaml: minimalClusterConfig)
        guard case .object(let clusterFields) = cluster.canonical else { Issue.record("not an object"); return }
        #expect(clusterFields["cluster"] != nil)
        let other = try ConfigParser.parse(yaml: minimalCluster(replacingLine: 10, with: "  route_table: 101"))
        #expect(other.digest != cluster.digest)
        #expect(cluster.canonicalCompactUTF8 == cluster.canonical.compactUTF8)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let yaml: String
        let expected: [String]
        var testDescription: String { expected.first ?? "valid" }
    }

    static let errorCases: [Case] = [
        Case(yaml: minimalCluster(replacingLine: 5, with: "  - name: d1"),
             expected: ["nodes[1].name: \"d1\" is already the name of nodes[0]: give each director its own name (line 5)"]),
        Case(yaml: minimalCluster(replacingLine: 6, with: "    addresses: [10.0.0.1]"),
             expected: ["nodes[1].addresses[0]: 10.0.0.1 is also an address of d1: each director needs its own (line 6)"]),
        Case(yaml: minimalCluster(replacingLine: 6, with: "    addresses: [10.0.0.2]\n    priority: 120"),
             expected: ["nodes[1].priority: every director of a cluster is active, so there is no election and no priority; remove it (line 7)"]),
        Case(yaml: minimalCluster(replacingLine: 6, with: "    addresses: [10.0.0.2]\n    track_interfaces: [eth0]"),
             expected: ["nodes[1].track_interfaces: a cluster has no election for a tracked link to lower: BFD on the BGP sessions finds a dead uplink, and health checks a dead inside link; remove it (line 7)"]),
        Case(yaml: minimalCluster(replacingLine: 10, with: "  route_table: 254"),
             expected: ["cluster.route_table: table 254 is reserved by the kernel (252 compat, 253 default, 254 main, 255 local; include/uapi/linux/rtnetlink.h): pick a table of its own that no ip rule selects, like 100 (line 10)"]),
        Case(yaml: minimalCluster(replacingLine: 10, with: "  route_table: 0"),
             expected: ["cluster.route_table: 0 is not a routing table number (1…4294967295) (line 10)"]),
        Case(yaml: minimalCluster(replacingLine: 11, with: "  route_protocol: 12"),
             expected: ["cluster.route_protocol: protocol 12 is not Tandem's to take: 0-4 are the kernel's and ip route's own (unspec, redirect, kernel, boot, static), and BIRD ignores 0 and 2 and owns 12; use a private number such as 250 (line 11)"]),
        Case(yaml: minimalCluster(replacingLine: 11, with: "  route_protocol: 3"),
             expected: ["cluster.route_protocol: protocol 3 is not Tandem's to take: 0-4 are the kernel's and ip route's own (unspec, redirect, kernel, boot, static), and BIRD ignores 0 and 2 and owns 12; use a private number such as 250 (line 11)"]),
        Case(yaml: minimalCluster(replacingLine: 13, with: "    local_as: 23456"),
             expected: ["cluster.bgp.local_as: 23456 is AS_TRANS, a placeholder for 4-byte AS numbers (RFC 6793), never a real AS: use your own, like 65010 (line 13)"]),
        Case(yaml: minimalCluster(replacingLine: 15, with: "      - {address: 10.0.0.2, as: 65000}"),
             expected: ["cluster.bgp.peers[0].address: 10.0.0.2 is director d2's own address: the peers are the upstream routers the directors announce to (line 15)"]),
        Case(yaml: minimalCluster(replacingLine: 15, with: "      - {address: 10.0.0.254, as: 65000}\n      - {address: 10.0.0.254, as: 65001}"),
             expected: ["cluster.bgp.peers[1].address: 10.0.0.254 is already cluster.bgp.peers[0] (line 16)"]),
        Case(yaml: minimalCluster(replacingLine: 15, with: "      - {address: 10.0.0.254, as: 65000, name: up}\n      - {address: 10.0.0.253, as: 65000, name: up}"),
             expected: ["cluster.bgp.peers[1].name: \"up\" is already the name of cluster.bgp.peers[0]: BIRD needs one protocol name per session (line 16)"]),
        Case(yaml: minimalCluster(replacingLine: 15, with: "      - {address: 10.0.0.254, as: 65000, name: up-1}"),
             expected: ["cluster.bgp.peers[0].name: \"up-1\" is not a BIRD protocol name: start with a letter or '_', then letters, digits and '_' (line 15)"]),
        Case(yaml: minimalCluster(replacingLine: 15, with: "      - {address: 'fd00::1', as: 65000}"),
             expected: ["nodes[0].addresses: director d1 has no IPv6 address to start its BGP session with upstream1 (fd00::1) from: add one (line 4)",
                        "nodes[1].addresses: director d2 has no IPv6 address to start its BGP session with upstream1 (fd00::1) from: add one (line 6)",
                        "virtual_ips[0].address: no IPv4 BGP peer to announce 10.0.5.10 to: add one under cluster.bgp.peers, or remove the VIP (line 17)"]),
        Case(yaml: minimalClusterConfig.replacingOccurrences(of: "    peers:\n      - {address: 10.0.0.254, as: 65000}", with: "    peers: []"),
             expected: ["cluster.bgp.peers: give at least one upstream router to announce the VIPs to (line 14)"]),
        Case(yaml: minimalCluster(replacingLine: 12, with: "  bgp:\n    hold_time: 2s"),
             expected: ["cluster.bgp.hold_time: 2s is not a BGP hold time: 0s (no keepalives) or 3s and more (RFC 4271 §4.2) (line 13)"]),
        Case(yaml: minimalCluster(replacingLine: 12, with: "  bgp:\n    bfd: false\n    bfd_multiplier: 3"),
             expected: ["cluster.bgp.bfd_multiplier: has no effect with bfd: false; remove it or turn BFD on (line 14)"]),
        Case(yaml: minimalCluster(replacingLine: 17, with: "  - address: 10.0.5.10/24"),
             expected: ["virtual_ips[0].address: 10.0.5.10/24 is not a host address: in a cluster each VIP is one address on lo and one announced route; write 10.0.5.10/32 (line 17)"]),
        Case(yaml: minimalCluster(replacingLine: 17, with: "  - {address: 10.0.5.10/32, interface: eth0}"),
             expected: ["virtual_ips[0].interface: every VIP of a cluster sits on cluster.vip_interface (lo), which answers no ARP for it; remove interface, or change vip_interface (line 17)"]),
        Case(yaml: minimalCluster(replacingLine: 17, with: "  - {address: 10.0.5.10/32, nat_gateway: true}"),
             expected: ["virtual_ips[0].nat_gateway: a cluster has no gateway address that moves with an active router: every director is active; remove nat_gateway (line 17)"]),
        Case(yaml: minimalClusterConfig + "\nstandby_table: cold",
             expected: ["standby_table: every director of a cluster is active and holds the IPVS table; remove standby_table: cold (line 29)"]),
    ]

    @Test(arguments: errorCases)
    func clusterErrors(_ c: Case) {
        let found = errors(of: c.yaml)
        if c.expected.isEmpty {
            #expect(!found.isEmpty, "expected an error")
        } else {
            #expect(found == c.expected)
        }
    }

    @Test func aClusterNeedsTwoToSixteenDirectors() {
        let one = minimalClusterConfig.replacingOccurrences(of: "  - name: d2\n    addresses: [10.0.0.2]\n", with: "")
        #expect(errors(of: one) == ["nodes: a cluster has 2 to 16 directors; found 1: list every director of the cluster, this one included (line 2)"])
        let many = (1...17).map { "  - {name: d\($0), addresses: [10.0.1.\($0)]}" }.joined(separator: "\n")
        let seventeen = minimalClusterConfig.replacingOccurrences(of: "  - name: d1\n    addresses: [10.0.0.1]\n  - name: d2\n    addresses: [10.0.0.2]", with: many)
        #expect(errors(of: seventeen) == ["nodes: a cluster has 2 to 16 directors; found 17: the upstream router merges at most 16 equal paths (BIRD's merge paths limit), so the others would receive no flows (line 2)"])
        let sixteen = minimalClusterConfig.replacingOccurrences(of: "  - name: d1\n    addresses: [10.0.0.1]\n  - name: d2\n    addresses: [10.0.0.2]",
                                                                with: (1...16).map { "  - {name: d\($0), addresses: [10.0.1.\($0)]}" }.joined(separator: "\n"))
        #expect(errors(of: sixteen) == [])
    }

    @Test func aPairWithThreeNodesPointsToClusterMode() {
        let three = minimal(replacingLine: 6, with: "    addresses: [10.0.0.2]\n  - name: c\n    addresses: [10.0.0.3]")
        #expect(errors(of: three) == ["nodes: a pair has exactly two nodes; found 3: for more active directors add a cluster: section (see examples/cluster.yaml) (line 2)"])
    }

    static let warningCases: [Case] = [
        Case(yaml: minimalCluster(replacingLine: 22, with: "    scheduler: wlc").replacingOccurrences(of: "    scheduler_flags: [mh-fallback]\n", with: ""),
             expected: ["virtual_servers[0].scheduler: the wlc scheduler decides from this director's own state, so when the upstream router moves flows to another director (a director joins, leaves or is drained) they reach a different real server and break; use scheduler: mh (Maglev hashing), which picks the same real server on every director from the same list (line 22)"]),
        Case(yaml: minimalCluster(replacingLine: 23, with: "    scheduler_flags: [mh-port]"),
             expected: ["virtual_servers[0].scheduler: mh without mh-fallback: a real server at weight 0 (quiesced by its health check, drained with tandemctl drain, or weight: 0) keeps its slots, so new connections that hash to it find no real server and fail (ip_vs_mh.c); add scheduler_flags: [mh-fallback] (line 22)"]),
        Case(yaml: minimalCluster(replacingLine: 24, with: "    forwarding: dr\n    health_check: {type: tcp, failure_action: remove}"),
             expected: ["virtual_servers[0].health_check.failure_action: remove under mh: the kernel puts a re-added real server at the head of its list (ip_vs_ctl.c __ip_vs_update_dest), and the mh table follows list order, so a director that saw a server flap hashes differently from the others; use quiesce with mh-fallback (line 25)"]),
        Case(yaml: minimalCluster(replacingLine: 24, with: "    forwarding: nat"),
             expected: ["virtual_servers[0].forwarding: NAT under ECMP: each real server sends its replies to one gateway, which cannot be every director; use dr or tunnel, whose replies go straight to the client (line 24)"]),
        Case(yaml: minimalClusterConfig.replacingOccurrences(of: "sync:\n  interface: eth0", with: ""),
             expected: ["cluster: no sync: section: when the upstream router moves established connections to another director (a director joins, leaves or is drained), that director has no entry for them and, with TCP, schedules only on SYN, so they break; add sync: (every director runs the sync daemon as master and backup at once) (line 9)"]),
        Case(yaml: minimalCluster(replacingLine: 11, with: "  route_protocol: 186"),
             expected: ["cluster.route_protocol: protocol 186 is assigned to bgp (include/uapi/linux/rtnetlink.h): if that daemon ever writes into table 100, Tandem takes its routes for its own and removes them; use a number no daemon uses, such as 250 (line 11)"]),
        Case(yaml: minimalClusterConfig + "\nelection: {preempt: true}",
             expected: ["election: has no effect in cluster mode: every director is active, there is no election; remove it (line 29)"]),
        Case(yaml: minimalClusterConfig + "\nannounce: {repeat: 3}",
             expected: ["announce: has no effect in cluster mode: the VIPs sit on a non-ARPing interface and are reached through the routes BIRD announces, so no gratuitous ARP or NA is sent; remove it (line 29)"]),
    ]

    @Test(arguments: warningCases)
    func clusterWarnings(_ c: Case) throws {
        let found = try warnings(of: c.yaml)
        #expect(found == c.expected)
    }

    @Test func fwmarkServiceWarnsThatItGatesNoVIP() throws {
        let yaml = minimalClusterConfig.replacingOccurrences(of: "sync:", with: """
              - name: marked
                fwmark: 5
                scheduler: mh
                scheduler_flags: [mh-fallback]
                forwarding: dr
                real_servers: [{address: 10.0.0.22}]
            sync:
            """)
        let found = try warnings(of: yaml)
        #expect(found == ["virtual_servers[1].fwmark: the health of a fwmark service gates no VIP's announcement: which addresses mark 5 covers is up to the firewall rule, which the config does not see; a VIP stays announced while this service has no live real server (line 28)"])
    }

    @Test func summaryNamesTheDirectorsAndBGP() throws {
        let config = try ConfigParser.parse(yaml: minimalClusterConfig)
        let lines = ConfigSummary.render(config, file: "c.yaml", node: "d2").split(separator: "\n").map(String.init)
        #expect(lines[1] == "cluster: 2 active directors: d1 10.0.0.1; d2 (this node) 10.0.0.2")
        #expect(lines[2] == "routes: host routes of the VIPs on lo in table 100, protocol 250")
        #expect(lines[3] == "bgp: AS 65010 to upstream1 10.0.0.254 AS 65000; BFD 100ms × 5, a dead director detected in 500ms")
    }

    @Test func reloadDifferencesOfClusterSettings() throws {
        let old = try ConfigParser.parse(yaml: minimalClusterConfig)
        let new = try ConfigParser.parse(yaml: minimalCluster(replacingLine: 10, with: "  route_table: 101")
            .replacingOccurrences(of: "local_as: 65010", with: "local_as: 65011"))
        let lines = ConfigDifference.lines(from: old, to: new, context: ReloadContext(nodeName: "d1"))
        #expect(lines == ["~ cluster route_table 100 -> 101: needs a restart",
                          "~ cluster bgp (BIRD's: regenerate its config with tandemctl bird-config) (not used on this node)"])
        let pair = try ConfigParser.parse(yaml: minimalConfig)
        #expect(ConfigDifference.lines(from: pair, to: old, context: ReloadContext(nodeName: "a")).contains("~ mode pair -> cluster: needs a restart"))
    }
}
