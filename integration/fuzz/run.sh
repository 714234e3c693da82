#!/usr/bin/env bash
# Builds Tandem's libFuzzer targets and runs them, one after the other (or FUZZ_JOBS at a time).
#
#   integration/fuzz/run.sh [SECONDS] [TARGET...]     # default: 60 s each, every target
#   FUZZ_JOBS=2 integration/fuzz/run.sh 10              # two targets at a time
#   FUZZ_BUILD_ONLY=1 integration/fuzz/run.sh           # build, run nothing (integration/test-all
#                                                       # builds beside the simulator this way)
#
# Targets (integration/fuzz/README.md says what each checks):
#   heartbeat  heartbeat decoder and verifier
#   config     config loader: bytes -> YAML -> validated Config
#   control    control-socket request lines (and tandemctl's reading of responses)
#   peer       peer channel: frames, handshake, session MACs, JSON messages
#   ipvs       IPVS generic-netlink replies (services, real servers, daemons, info, timeouts)
#   rtnetlink  rtnetlink link, address and cluster route messages (notifications and dump replies)
#
# Build: SwiftPM builds TandemCore's dependencies (swift-crypto) as usual (`swift build
# --target TandemCore`, a no-op after the project's own debug build); then swiftc compiles
# TandemCore and the targets with -sanitize=fuzzer,address into .build/fuzz and links them with
# those dependencies' objects (and libyaml, -lyaml) into one binary, run as TARGET-fuzz. Both steps are skipped when
# nothing they read changed.
#
# Corpus: .build/fuzz/corpus/TARGET (kept between runs), seeded from .build/fuzz/seeds/TARGET:
# examples/*.yaml, the unit tests' golden packets, YAML and captured netlink replies, and inputs
# built by the product's own encoders. A crash, trap, timeout (-timeout=10) or over-large
# allocation (-malloc_limit_mb, -rss_limit_mb) leaves its input as .build/fuzz/crash-TARGET-*
# and makes the script exit non-zero, after the other targets have run. Each target ends with a
# summary line: executions per second and the corpus size.
set -euo pipefail

seconds=${1:-60}
[ $# -gt 0 ] && shift
all=(heartbeat config control peer ipvs rtnetlink import)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    case " ${all[*]} " in *" $t "*) ;; *) echo "run.sh: unknown target $t (known: ${all[*]})" >&2; exit 2 ;; esac
done

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/.build/fuzz}
export PATH="/opt/swift/usr/bin:$PATH"
# A trap is reported by libFuzzer and ASan; Swift's own backtracer would only add noise under ASan.
export SWIFT_BACKTRACE=enable=no
mkdir -p "$build/modules"
cd "$root"

# 1. TandemCore's dependencies, built by SwiftPM.
if ! swift build --target TandemCore > "$build/deps.log" 2>&1; then
    tail -n 30 "$build/deps.log"
    echo "run.sh: swift build --target TandemCore failed (log: $build/deps.log)" >&2
    exit 1
fi
bin=$(swift build --show-bin-path)

# The clang module maps and include paths SwiftPM gave TandemCore's compile (CYAML for
# libyaml, swift-crypto's C modules), read from its build manifest.
mapfile -t cflags < <(python3 - "$root/.build/debug.yaml" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith('args: [') and '"-module-name","TandemCore"' in line:
        args = json.loads(line[len('args: '):])
        break
else:
    sys.exit("run.sh: TandemCore's compile command is not in .build/debug.yaml")
i = 0
while i < len(args):
    if args[i] == '-Xcc' and args[i + 1].startswith('-fmodule-map-file='):
        print('-Xcc'); print(args[i + 1]); i += 2
    elif args[i:i + 3] == ['-Xcc', '-I', '-Xcc']:
        print('-Xcc'); print('-I' + args[i + 3]); i += 4
    else:
        i += 1
PY
)

# Objects of those dependencies (the C and Swift modules TandemCore links against).
deps=()
for module in Crypto CryptoBoringWrapper CCryptoBoringSSL CCryptoBoringSSLShims CXKCP CXKCPShims; do
    [ -d "$bin/$module.build" ] || continue
    while IFS= read -r -d '' object; do deps+=("$object"); done < <(find "$bin/$module.build" -name '*.o' -print0)
done

swiftflags=(-parse-as-library -swift-version 6 -O -g -sanitize=fuzzer,address -I "$bin/Modules" -I "$build/modules"
            "${cflags[@]}")

# Is $1 missing or older than any of the other files?
stale() {
    local out=$1
    shift
    [ -e "$out" ] || return 0
    [ -n "$(find "$@" -newer "$out" -print -quit)" ]
}

# 2. TandemCore, instrumented (-enable-testing: the targets use @testable import).
core=()
while IFS= read -r -d '' f; do core+=("$f"); done < <(find Sources/TandemCore -name '*.swift' -print0 | sort -z)
depmodules=()
for module in Crypto; do
    [ -e "$bin/Modules/$module.swiftmodule" ] && depmodules+=("$bin/Modules/$module.swiftmodule")
done
if stale "$build/TandemCore.o" "${core[@]}" "${depmodules[@]}"; then
    echo "run.sh: compiling TandemCore with -sanitize=fuzzer,address"
    swiftc "${swiftflags[@]}" -enable-testing -module-name TandemCore -wmo -c -o "$build/TandemCore.o" \
        -emit-module -emit-module-path "$build/modules/TandemCore.swiftmodule" "${core[@]}"
fi

# 3. The targets, with the pure netlink decoders of TandemKernel (the rest of TandemKernel needs libnl).
kernel=(Sources/TandemKernel/IPVS/NetlinkCodec.swift Sources/TandemKernel/IPVS/IPVSWire.swift
        Sources/TandemKernel/Address/RouteMessages.swift Sources/TandemKernel/Cluster/ClusterRouteMessages.swift)
harness=()
while IFS= read -r -d '' f; do harness+=("$f"); done < <(find "$here" -maxdepth 1 -name '*.swift' -print0 | sort -z)
if stale "$build/tandem-fuzz" "${kernel[@]}" "${harness[@]}" "$build/TandemCore.o"; then
    echo "run.sh: compiling and linking the fuzz targets"
    swiftc "${swiftflags[@]}" -module-name TandemFuzz -wmo -c -o "$build/TandemFuzz.o" "${harness[@]}" "${kernel[@]}"
    swiftc -sanitize=fuzzer,address -g -use-ld=lld -o "$build/tandem-fuzz" "$build/TandemFuzz.o" "$build/TandemCore.o" "${deps[@]}" -lyaml
fi
for t in "${all[@]}"; do ln -sf tandem-fuzz "$build/$t-fuzz"; done
if [ "${FUZZ_BUILD_ONLY:-0}" = 1 ]; then
    echo "run.sh: built $build/tandem-fuzz"
    exit 0
fi

# 4. Seeds.
seed_dir() { rm -rf "$build/seeds/$1"; mkdir -p "$build/seeds/$1" "$build/corpus/$1"; echo "$build/seeds/$1"; }

# Golden hex fixtures of a unit-test file: every hex("…") and hex("""…""") literal.
hex_fixtures() {
    python3 - "$@" <<'PY'
import re, sys, pathlib
out, files = sys.argv[1], sys.argv[2:]
n = 0
for f in files:
    text = pathlib.Path(f).read_text()
    for literal in re.findall(r'hex\("""(.*?)"""\)', text, re.S) + re.findall(r'hex\("([^"\n]*)"\)', text):
        digits = re.sub(r'[\s|]', '', literal)
        if not digits or re.search(r'[^0-9a-fA-F]', digits) or len(digits) % 2:
            continue
        n += 1
        pathlib.Path(out, f"{pathlib.Path(f).stem}-{n}").write_bytes(bytes.fromhex(digits))
PY
}

for t in "${targets[@]}"; do
    dir=$(seed_dir "$t")
    case $t in
    heartbeat)
        # The golden packets of HeartbeatCodecTests (one authenticated, one plain).
        python3 - "$dir" <<'PY'
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
        ;;
    config)
        cp examples/*.yaml "$dir/"
        # The nesting that overflowed Yams's composer (the loader's YAML reader then) before the loader refused it.
        python3 -c 'import sys; open(sys.argv[1], "w").write("[" * 10000)' "$dir/deep-nesting.yaml"
        # The YAML documents of the config unit tests (multi-line string literals with a serial).
        python3 - "$dir" Tests/TandemCoreTests/*.swift <<'PY'
import re, sys, pathlib
out, n = sys.argv[1], 0
for f in sys.argv[2:]:
    for literal in re.findall(r'"""\n(.*?)\n\s*"""', pathlib.Path(f).read_text(), re.S):
        if 'serial:' in literal or 'nodes:' in literal:
            n += 1
            lines = literal.split('\n')
            indent = min((len(l) - len(l.lstrip(' ')) for l in lines if l.strip()), default=0)
            pathlib.Path(out, f"{pathlib.Path(f).stem}-{n}.yaml").write_text('\n'.join(l[indent:] for l in lines) + '\n')
PY
        ;;
    import)
        # The sample files of examples/import, behind the byte that picks their importer.
        for f in examples/import/*.conf; do { printf '\000'; cat "$f"; } > "$dir/$(basename "$f")"; done
        { printf '\001'; cat examples/import/lvs.cf; } > "$dir/lvs.cf"
        ;;
    ipvs) hex_fixtures "$dir" Tests/TandemKernelTests/IPVSEncodingTests.swift ;;
    rtnetlink) hex_fixtures "$dir" Tests/TandemKernelTests/RouteMessagesTests.swift Tests/TandemKernelTests/ClusterRouteMessagesTests.swift ;;
    esac
    TANDEM_FUZZ_SEEDS=$dir "$build/$t-fuzz"
done

# 5. Runs.
max_len() {
    case $1 in
    heartbeat) echo 1024 ;;
    config | import) echo 16384 ;;
    rtnetlink) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

# One target's run: its log in $build/TARGET.log, its summary line in $build/TARGET.summary.
fuzz_one() {
    local t=$1 log=$build/$1.log rc done_line execs corpus line
    rm -f "$build"/crash-"$t"-* "$build/$t.failed"
    set +e
    (cd "$build" && "./$t-fuzz" -max_total_time="$seconds" -print_final_stats=1 -max_len="$(max_len "$t")" \
        -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 -artifact_prefix="$build/crash-$t-" \
        "corpus/$t" "seeds/$t") > "$log" 2>&1
    rc=$?
    set -e
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    [ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$done_line")
    line="$t: ${execs:-?} exec/s, corpus ${corpus:-?} (inputs/bytes), $(ls "$build/corpus/$t" | wc -l) files kept in corpus/$t"
    {
        echo "=== fuzz $t for ${seconds}s ==="
        if [ $rc -ne 0 ]; then
            grep -E 'ERROR|Fatal error|Assertion|Precondition|SUMMARY|deadly signal|out-of-memory|timeout' "$log" | head -n 20 || true
            echo "FAILED: $t (exit $rc): input in $build/crash-$t-*, log $log"
            touch "$build/$t.failed"
        else
            echo "$done_line"
        fi
        echo "$line"
    } > "$build/$t.report"
    echo "$line" > "$build/$t.summary"
}

# FUZZ_JOBS targets at a time (default 1; integration/test-all uses 2, one per core).
jobs=${FUZZ_JOBS:-1}
running=0
for t in "${targets[@]}"; do
    if [ "$jobs" -le 1 ]; then
        fuzz_one "$t"
        cat "$build/$t.report"
        continue
    fi
    fuzz_one "$t" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait
if [ "$jobs" -gt 1 ]; then
    for t in "${targets[@]}"; do cat "$build/$t.report"; done
fi

failed=()
echo "=== summary (${seconds}s per target) ==="
for t in "${targets[@]}"; do
    cat "$build/$t.summary"
    [ ! -e "$build/$t.failed" ] || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
