"""tandemctl doctor inside an IPVS-capable kernel."""
import re

from vmlib import EXAMPLES, run, tandemctl


def test_doctor_reports_ipvs_available_with_version():
    proc = tandemctl("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "ok    CAP_NET_ADMIN: effective" in lines
    ipvs = [l for l in lines if l.startswith("ok    IPVS: ")]
    assert len(ipvs) == 1, proc.stdout
    m = re.fullmatch(r"ok    IPVS: available, version (\d+\.\d+\.\d+), connection table size (\d+)", ipvs[0])
    assert m, ipvs[0]
    # The oracle: ipvsadm's own header line.
    header = run("ipvsadm", "-Ln", check=True).stdout.splitlines()[0]
    assert header == f"IP Virtual Server version {m.group(1)} (size={m.group(2)})"


def test_doctor_with_config_finds_scheduler_modules():
    proc = tandemctl("doctor", str(EXAMPLES / "reference.yaml"))
    lines = proc.stdout.splitlines()
    for sched in ("wlc", "sh", "rr", "lc", "wrr"):
        assert any(l.startswith(f"ok    scheduler {sched}: module ip_vs_{sched} ") for l in lines), proc.stdout


def test_doctor_without_cap_net_admin_fails():
    proc = run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
               "--bounding-set=-all", tandemctl_path(), "doctor")
    assert proc.returncode != 0
    assert any(l.startswith("FAIL  CAP_NET_ADMIN: missing") for l in proc.stdout.splitlines()), proc.stdout


def tandemctl_path():
    from vmlib import TANDEMCTL
    return TANDEMCTL
