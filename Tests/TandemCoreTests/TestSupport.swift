import Foundation
@testable import TandemCore

/// The repository's root, found from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Every `examples/*.yaml` file.
func exampleConfigs() -> [URL] {
    let dir = repositoryRoot.appendingPathComponent("examples")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
    return names.filter { $0.hasSuffix(".yaml") }.sorted().map { dir.appendingPathComponent($0) }
}

/// A small valid config; tests edit it line by line to provoke one error at a known line.
let minimalConfig = """
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
"""

/// Parses and returns the error lines (as `tandemctl check-config` prints them), or [] if valid.
func errors(of yaml: String) -> [String] {
    do {
        _ = try ConfigParser.parse(yaml: yaml)
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

/// `minimalConfig` with line `n` (1-based) replaced.
func minimal(replacingLine n: Int, with text: String) -> String {
    var lines = minimalConfig.components(separatedBy: "\n")
    lines[n - 1] = text
    return lines.joined(separator: "\n")
}

/// `minimalConfig` with `text` appended.
func minimal(appending text: String) -> String { minimalConfig + "\n" + text }
