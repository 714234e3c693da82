// The libFuzzer entry points of every Tandem fuzz target, linked into one binary by run.sh. The
// target is chosen by the name the binary is run under (`config-fuzz` runs `config`), so one
// build serves them all; each target is a function over the input bytes in its own file.
//
// `TANDEM_FUZZ_SEEDS=DIR` makes a target write seed inputs built by the product's own encoders
// into DIR and exit (used by run.sh for the targets whose real inputs are encoder output).

import Glibc

struct FuzzTarget: Sendable {
    let run: @Sendable ([UInt8]) -> Void
    /// Seed inputs built by the product's encoders, by file name.
    let seeds: @Sendable () -> [(String, [UInt8])]
}

let fuzzTargets: [String: FuzzTarget] = [
    "heartbeat": FuzzTarget(run: heartbeatFuzz, seeds: { [] }),
    "config": FuzzTarget(run: configFuzz, seeds: { [] }),
    "control": FuzzTarget(run: controlFuzz, seeds: controlSeeds),
    "peer": FuzzTarget(run: peerFuzz, seeds: peerSeeds),
    "ipvs": FuzzTarget(run: ipvsFuzz, seeds: ipvsSeeds),
    "rtnetlink": FuzzTarget(run: rtnetlinkFuzz, seeds: rtnetlinkSeeds),
    "import": FuzzTarget(run: importFuzz, seeds: { [] }),
]

nonisolated(unsafe) var selectedTarget: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let program = argv.pointee?.pointee.map { String(cString: $0) } ?? ""
    let base = program.split(separator: "/").last.map(String.init) ?? program
    let name = base.hasSuffix("-fuzz") ? String(base.dropLast(5)) : base
    guard let target = fuzzTargets[name] else {
        complain("fuzz: run this binary as TARGET-fuzz, TARGET one of \(fuzzTargets.keys.sorted().joined(separator: ", "))")
        exit(2)
    }
    if let directory = getenv("TANDEM_FUZZ_SEEDS").map({ String(cString: $0) }) {
        for (file, bytes) in target.seeds() {
            guard let handle = fopen(directory + "/" + file, "wb") else {
                complain("fuzz: cannot write \(directory)/\(file)")
                exit(1)
            }
            _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
            fclose(handle)
        }
        exit(0)
    }
    selectedTarget = target
    return 0
}

/// A line on standard error.
func complain(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    selectedTarget?.run(input)
    return 0
}
