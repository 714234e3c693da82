#!/usr/bin/env bash
# Builds the libFuzzer target for the heartbeat decoder and verifier and runs it.
#
#   integration/fuzz/run.sh [SECONDS]      # default 60
#
# The target is compiled with swiftc directly (-sanitize=fuzzer,address) from the TandemCore
# sources it exercises, so it needs no SwiftPM build and no Crypto module. The corpus is kept in
# .build/fuzz/corpus; a crash leaves its input as .build/fuzz/crash-* and exits non-zero.
set -euo pipefail

seconds=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/.build/fuzz}
core=$root/Sources/TandemCore
mkdir -p "$build/corpus" "$build/seeds"

sources=(
    "$here/HeartbeatDecoderFuzz.swift"
    "$core/Election/Role.swift"
    "$core/Election/MonotonicInstant.swift"
    "$core/Encoding/Hex.swift"
)
for file in "$core"/Heartbeat/*.swift; do
    case $(basename "$file") in HMAC*) ;; *) sources+=("$file") ;; esac
done

swiftc -sanitize=fuzzer,address -parse-as-library -swift-version 6 -O -g \
    -module-name HeartbeatFuzz -o "$build/heartbeat-fuzz" "${sources[@]}"

# Seeds: the golden packets of HeartbeatCodecTests (one authenticated, one plain).
python3 - "$build/seeds" <<'PY'
import sys, pathlib
seeds = {
    "authenticated": "544e444d01010101" "0102030405060708" "000000000000002a" "03" "96" "0000000000000007"
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" "0000000a" "05" "6c76732d61"
        "fa5f6a7c4a64a08626817cbcab613897d40fdb85ff469fe7b650710166724b62",
    "plain": "544e444d01020000" "0000000000000001" "0000000000000002" "06" "64" "0000000000000000"
        + "00" * 32 + "0000001e" "01" "62",
}
for name, hexdigits in seeds.items():
    pathlib.Path(sys.argv[1], name).write_bytes(bytes.fromhex(hexdigits))
PY

cd "$build"
exec ./heartbeat-fuzz -max_total_time="$seconds" -print_final_stats=1 -max_len=1024 corpus seeds
