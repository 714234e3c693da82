"""`tandemctl import keepalived` against keepalived itself (issue 18), inside the VM.

The oracle is Debian's keepalived (2.2.7) installing the IPVS table of the sample pair in
examples/import (NAT, DR, TUN, UDP with ops, fwmark with persistence, a sorry server, weights,
sh with sh-port, a virtual_server_group, and the quirks: lower-case `lb_kind dr`, DR ports
forced to the service's, a service without a protocol line, `persistence_timeout 0`). Its
checkers are removed first, so keepalived counts every real server up, as Tandem's table with
no health state does. keepalived runs in a network namespace of this test (`-C`: the checker
process only, so it claims no addresses), its `ipvsadm -S -n` is saved, it is stopped and the
table cleared; then the same files are imported, and both `tandemctl show-config --format
ipvsadm` and the table `tandemctl ipvs apply` installs must equal keepalived's, after sorting.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from vmlib import EXAMPLES, TANDEMCTL, run

NS = "tandem-import-test"
SAMPLE = EXAMPLES / "import"
CORPUS = EXAMPLES.parent / "Tests" / "TandemCoreTests" / "Fixtures" / "import"

TABLES = CORPUS.parent / "import-tables"
# Corpus files with virtual servers (ka-fwmark.conf has no VIP, so Tandem refuses it).
CORPUS_FILES = ["ka-sample-nat-ssl.conf", "ka-vsgroup.conf", "ka-misc-quorum.conf", "ka-ipv6.conf", "ka-lvs-syncd.conf",
                "ka-conditional.conf", "ka-k8s-apiserver.conf", "ka-udp-dns.conf"]


def strip_checkers(text):
    """Removes every *_CHECK { … } block (brace-counted), keeping the lines around it."""
    out, depth = [], 0
    for line in text.splitlines(keepends=True):
        if depth == 0 and re.match(r"\s*[A-Z_]+_(CHECK|GET)\s*\{", line):
            depth = line.count("{") - line.count("}")
            continue
        if depth > 0:
            depth += line.count("{") - line.count("}")
            continue
        out.append(line)
    return "".join(out)


def ns(*args, check=True):
    return run("ip", "netns", "exec", NS, *args, check=check)


def sorted_lines(text):
    return sorted(l for l in text.splitlines() if l.strip())


@pytest.fixture
def sample():
    """The sample pair's files with their checkers removed, and a namespace to run in."""
    assert shutil.which("keepalived"), "keepalived is not installed: integration/setup --for lab-vm installs it"
    run("ip", "netns", "del", NS)
    run("ip", "netns", "add", NS, check=True)
    ns("ip", "link", "set", "lo", "up")
    with tempfile.TemporaryDirectory(prefix="tandem-import-") as tmp:
        tmp = Path(tmp)
        for path in SAMPLE.rglob("*.conf"):
            target = tmp / path.relative_to(SAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(strip_checkers(path.read_text()))
        yield tmp
    run("ip", "netns", "del", NS)


def keepalived_table(conf, tmp, extra=()):
    """Starts keepalived's checker process on `conf`, returns its settled table, stops it."""
    log = open(tmp / "keepalived.log", "w")
    proc = subprocess.Popen(["ip", "netns", "exec", NS, "keepalived", "-n", "-l", "-D", "-C", *extra, "-f", str(conf),
                             "-p", str(tmp / "keepalived.pid"), "-c", str(tmp / "checkers.pid")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        previous, stable_since, deadline = None, None, time.monotonic() + 60
        while time.monotonic() < deadline:
            table = ns("ipvsadm", "-S", "-n").stdout
            if table and table == previous:
                if time.monotonic() - stable_since >= 2:
                    return table
            else:
                previous, stable_since = table, time.monotonic()
            assert proc.poll() is None, f"keepalived exited {proc.returncode}:\n{(tmp / 'keepalived.log').read_text()}"
            time.sleep(0.2)
        raise AssertionError(f"keepalived's table did not settle:\n{previous}\n{(tmp / 'keepalived.log').read_text()}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_imported_table_equals_keepalived_table(sample):
    conf = sample / "keepalived-master.conf"
    expected = keepalived_table(conf, sample)
    ns("ipvsadm", "-C")
    assert ns("ipvsadm", "-S", "-n").stdout == ""

    out = sample / "tandem.yaml"
    imported = run(TANDEMCTL, "import", "keepalived", str(conf), "-o", str(out), check=True)
    shown = run(TANDEMCTL, "show-config", str(out), "--format", "ipvsadm", check=True).stdout
    assert sorted_lines(shown) == sorted_lines(expected), f"keepalived:\n{expected}\ntandemctl show-config:\n{shown}\nfindings:\n{imported.stderr}"

    run("ip", "netns", "exec", NS, TANDEMCTL, "ipvs", "apply", str(out), check=True)
    installed = ns("ipvsadm", "-S", "-n").stdout
    assert sorted_lines(installed) == sorted_lines(expected), f"keepalived:\n{expected}\nTandem installed:\n{installed}"
    # The quirks that shaped this table are each reported.
    for text in ("lb_kind dr", "forces it to 443", "defaulting to UDP", "persistence_timeout 0", "sh-port comes before", "flag-1 with scheduler sh is sh-fallback"):
        assert text in imported.stderr, imported.stderr
    services = sum(1 for l in expected.splitlines() if l.startswith("-A"))
    print(f"\n[import keepalived] {services} services, {len(expected.splitlines()) - services} real servers: "
          f"keepalived's table and Tandem's are identical after sorting")




def test_corpus_tables_equal_keepalived_tables():
    """Every corpus config with virtual servers, at once. The corpus files use address spaces of
    their own, so one keepalived (config id `high` for the @high/@low file) reads them all
    through includes; its table must equal the union of Tests/TandemCoreTests/Fixtures/
    import-tables/*.save, the tables of the imports (ImportCorpusTests checks import → those
    files on the host, so no tandemctl runs here: each costs seconds under TCG)."""
    run("ip", "netns", "del", NS)
    run("ip", "netns", "add", NS, check=True)
    ns("ip", "link", "set", "lo", "up")
    try:
        with tempfile.TemporaryDirectory(prefix="tandem-import-") as tmp:
            tmp = Path(tmp)
            for name in CORPUS_FILES:
                (tmp / name).write_text(strip_checkers((CORPUS / name).read_text()))
            main = tmp / "all.conf"
            main.write_text("".join(f"include {name}\n" for name in CORPUS_FILES))
            expected = keepalived_table(main, tmp, ["-i", "high"])
            tandem = "".join((TABLES / name.replace(".conf", ".save")).read_text() for name in CORPUS_FILES)
            assert sorted_lines(tandem) == sorted_lines(expected), f"keepalived:\n{expected}\nTandem (import-tables):\n{tandem}"
            services = sum(1 for l in expected.splitlines() if l.startswith("-A"))
            print(f"\n[import keepalived corpus] {len(CORPUS_FILES)} files, {services} services: identical tables")
    finally:
        run("ip", "netns", "del", NS)
