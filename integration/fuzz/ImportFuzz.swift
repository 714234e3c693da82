// Fuzz target `import`: the migration importers, `tandemctl import keepalived` and
// `tandemctl import lvs.cf`, from the bytes of a file to a Tandem config.
//
// The first byte chooses the importer (even: keepalived.conf, with node names and heartbeat
// addresses given as the command's options would; odd: pulse's lvs.cf); the rest is the file.
// An `include` names nothing: the source holds this one file.
//
// Properties checked on every input:
// 1. Importing never traps, whatever the bytes; a refusal is an `ImportError`.
// 2. An import that succeeds yields a config Tandem's own loader accepts (the importer promises
//    never to hand out one `check-config` would refuse).

@testable import TandemCore

func importFuzz(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    let text = String(decoding: input.dropFirst(), as: UTF8.self)
    let result: ImportResult
    do {
        if selector % 2 == 0 {
            let source = InMemoryImportFiles(["/etc/keepalived/keepalived.conf": text])
            result = try KeepalivedImport.run(files: ["/etc/keepalived/keepalived.conf"],
                                              options: .init(nodeNames: ["lvs1", "lvs2"], addresses: ["10.0.0.1", "10.0.0.2"]),
                                              source: source)
        } else {
            result = try LVSCFImport.run(file: "/etc/sysconfig/ha/lvs.cf", source: InMemoryImportFiles(["/etc/sysconfig/ha/lvs.cf": text]))
        }
    } catch {
        return
    }
    do {
        _ = try ConfigParser.parse(yaml: result.yaml)
    } catch {
        fatalError("the imported config is refused by the loader: \(error)\n\(result.yaml)")
    }
}
