// Fuzz target `config`: the config loader, from the bytes of a file to a validated `Config`
// (`ConfigParser.parseWithWarnings(data:)`: size, NUL and UTF-8 checks, YAML through libyaml's events, the
// reader and the validator), then what the daemon does with a config it accepted.
//
// Properties checked on every input:
// 1. Loading never traps, whatever the bytes; a refusal names at least one issue.
// 2. Loading is deterministic: the same bytes give the same digest.
// 3. An accepted config can be used as the daemon and tandemctl use one: its digest, summary,
//    node identity, desired IPVS table, its difference from itself (empty) and a reload's
//    changes from and to a small valid config are computed without a trap.

import Foundation
@testable import TandemCore

/// The config a fuzzed one is reloaded from and to (the unit tests' minimal config).
private let baseline = try! ConfigParser.parse(yaml: """
    serial: 7
    nodes:
      - name: a
        addresses: [10.0.0.1]
      - name: b
        addresses: [10.0.0.2]
    heartbeat:
      interval: 100ms
      key_file: /etc/tandem/key
    virtual_ips:
      - address: 10.0.0.10/24
        interface: eth0
    virtual_servers:
      - name: web
        address: 10.0.0.10
        port: 80
        forwarding: dr
        real_servers:
          - address: 10.0.0.21
            port: 80
            weight: 5
    """)

func configFuzz(_ input: [UInt8]) {
    let data = Data(input)
    let config: Config
    do {
        config = try ConfigParser.parseWithWarnings(data: data).config
    } catch {
        precondition(!error.issues.isEmpty, "a refused config names no issue")
        return
    }
    let digest = config.digest
    guard let again = try? ConfigParser.parseWithWarnings(data: data).config else {
        fatalError("the same bytes were accepted once and refused the second time")
    }
    precondition(again.digest == digest, "the same bytes gave two digests")
    precondition(ConfigDifference.lines(from: config, to: config).isEmpty, "a config differs from itself")
    _ = ConfigSummary.render(config, file: "fuzz.yaml")
    _ = config.desiredIPVSTable()
    _ = config.identifyNode(requested: nil, localAddresses: [IPAddress("10.0.0.1")!])
    for node in config.nodes {
        let context = ReloadContext(nodeName: node.name)
        _ = ConfigDifference.changes(from: baseline, to: config, started: baseline, context: context)
        _ = ConfigDifference.changes(from: config, to: baseline, started: config, context: context)
    }
}
