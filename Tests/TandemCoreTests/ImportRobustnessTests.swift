import Foundation
import Testing
@testable import TandemCore

/// Mutated inputs (lines dropped, doubled or cut, braces, quotes, comments, parameters and
/// includes thrown in) never crash an importer and never make it hand out a config Tandem
/// refuses: each either imports or fails with an `ImportError` that names the problem. The
/// mutations come from a fixed seed, so a failure replays (TANDEM_IMPORT_SEED, TANDEM_IMPORT_ROUNDS
/// to search further); `run(files:…)` is the entry point a fuzzer drives the same way.
@Suite struct ImportRobustnessTests {
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(max(bound, 1)))
        }
    }

    static let fragments = ["{", "}", "\"", "!", "#", "$X", "${X}", "$X=virtual_server", "@lvs-a ", "@^lvs-a ", "include *.conf",
                            "include /nowhere/*", "real_server", "virtual_server", "fwmark", "group", "0", "-1", "65536", "999999999999",
                            "lb_kind TUN type gue", "persistence_timeout", "192.0.2.10-300", "::", "1.2.3.4/33", "weight", "\\", "=", "\t"]

    static func mutate(_ text: String, _ g: inout Generator) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<(1 + g.next(4)) {
            let i = g.next(lines.count)
            switch g.next(5) {
            case 0: if !lines.isEmpty { lines.remove(at: i) }
            case 1: if !lines.isEmpty { lines.insert(lines[i], at: i) }
            case 2: if !lines.isEmpty { let l = lines[i]; lines[i] = String(l.prefix(g.next(l.count + 1))) }
            case 3: lines.insert(fragments[g.next(fragments.count)], at: i)
            default:
                if !lines.isEmpty { lines[i] += " " + fragments[g.next(fragments.count)] }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func inputs() throws -> [(String, String)] {
        let root = repositoryRoot
        var out: [(String, String)] = []
        for name in ["examples/import/services/web.conf", "examples/import/services/other.conf"] {
            out.append((name, importVRRP + (try String(contentsOf: root.appendingPathComponent(name), encoding: .utf8))))
        }
        let corpus = root.appendingPathComponent("Tests/TandemCoreTests/Fixtures/import")
        for name in try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted() where name.hasPrefix("ka-") || name.hasSuffix(".cf") {
            out.append((name, try String(contentsOf: corpus.appendingPathComponent(name), encoding: .utf8)))
        }
        return out
    }

    @Test func mutatedInputsNeverCrashOrProduceInvalidConfigs() throws {
        let env = ProcessInfo.processInfo.environment
        let seed = env["TANDEM_IMPORT_SEED"].flatMap { UInt64($0) } ?? 18
        let rounds = env["TANDEM_IMPORT_ROUNDS"].flatMap { Int($0) } ?? 150
        var g = Generator(state: seed)
        var imported = 0, refused = 0
        for (name, text) in try Self.inputs() {
            for round in 0..<rounds {
                let mutated = Self.mutate(text, &g)
                let path = "/m/" + (name.hasSuffix(".cf") ? "lvs.cf" : "keepalived.conf")
                let files = InMemoryImportFiles([path: mutated, "/m/other.conf": "virtual_server 192.0.2.10 81 {\n}\n"])
                do {
                    if name.hasSuffix(".cf") {
                        _ = try LVSCFImport.run(file: path, source: files)
                    } else {
                        _ = try KeepalivedImport.run(files: [path], options: .init(nodeNames: ["lvs-a", "lvs-b"], addresses: ["192.0.2.2", "192.0.2.3"]), source: files)
                    }
                    imported += 1
                } catch {
                    refused += 1
                    #expect(!error.description.contains("a defect of the importer"), "seed \(seed), \(name) round \(round):\n\(mutated)\n\(error)")
                }
            }
        }
        #expect(imported > 0 && refused > 0)
    }
}
