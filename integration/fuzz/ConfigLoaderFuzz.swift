// Fuzz target `config`: the config loader, from the bytes of a file to a validated `Config`
// (`ConfigParser.parseWithWarnings(data:)`: size, NUL and UTF-8 checks, YAML through Yams, the
// reader and the validator), then what the daemon does with a config it accepted.
//
// Properties checked on every input:
// 1. Loading never traps, whatever the bytes; a refusal names at least one issue.
// 2. Loading is deterministic: the same bytes give the same digest.
// 3. An accepted config can be used: its canonical form, digest, summary, desired IPVS table and
//    its difference from itself (empty) are computed without a trap.

import Foundation
@testable import TandemCore

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
}
