"""`tandemctl import keepalived|lvs.cf` as an operator runs it (issue 18): the sample inputs in
examples/import import to configs `tandemctl check-config` accepts, the findings go to standard
error with file:line, bad input fails with the file, line and fix, and the help is golden.
No root or namespaces needed."""
import pathlib

import pytest

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "import"
GOLDEN = pathlib.Path(__file__).parent / "golden"


@pytest.mark.parametrize("args", [
    ["keepalived", SAMPLES / "keepalived-master.conf", SAMPLES / "keepalived-backup.conf"],
    ["keepalived", SAMPLES / "keepalived-master.conf"],
    ["lvs.cf", SAMPLES / "lvs.cf"],
])
def test_samples_import_to_valid_configs(tandemctl, tmp_path, args):
    out = tmp_path / "tandem.yaml"
    r = tandemctl("import", *args, "-o", out, "--report")
    assert r.returncode == 0, r.stderr
    assert out.read_text().startswith("# Imported from ")
    assert "nodes[0]" in r.stdout  # the --report table
    check = tandemctl("check-config", out)
    assert check.returncode == 0, check.stderr
    # Every finding names its file and line.
    findings = [l for l in r.stderr.splitlines() if not l.startswith("import: ")]
    assert findings and all(l.startswith(str(SAMPLES)) and ":" in l for l in findings), r.stderr


def test_keepalived_quirks_are_reported(tandemctl):
    r = tandemctl("import", "keepalived", SAMPLES / "keepalived-master.conf")
    assert r.returncode == 0
    assert f"{SAMPLES}/services/other.conf:54: quirk: lb_kind dr for a virtual server is refused by keepalived" in r.stderr
    assert f"{SAMPLES}/keepalived-master.conf:28: quirk: \"s3cret!2\" is read as \"s3cret\"" in r.stderr
    assert "forwarding: nat" in r.stdout


@pytest.mark.parametrize("text, message", [
    ("virtual_server 192.0.2.10 80 {\n  real_server 10.0.0.1 80 {\n}\n", ":1: the block opened here is never closed: add the missing `}`"),
    ("}\n", ":1: `}` closes a block that was never opened"),
])
def test_bad_keepalived_input_names_file_line_and_fix(tandemctl, tmp_path, text, message):
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    r = tandemctl("import", "keepalived", conf)
    assert r.returncode == 1
    assert f"import: {conf}{message}" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_missing_file(tandemctl, tmp_path):
    r = tandemctl("import", "lvs.cf", tmp_path / "nope.cf")
    assert r.returncode == 1
    assert "cannot read the file" in r.stderr


@pytest.mark.parametrize("command", [["import"], ["import", "keepalived"], ["import", "lvs.cf"]])
def test_import_help_matches_golden(tandemctl, command):
    r = tandemctl(*command, "--help")
    assert r.returncode == 0
    assert r.stdout == (GOLDEN / f"help-{'-'.join(command)}.txt").read_text()
