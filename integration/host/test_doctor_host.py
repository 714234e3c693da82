"""tandemctl doctor and ipvs on a host whose kernel has no IPVS (the development hosts)."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
TANDEMCTL = os.environ.get("TANDEMCTL") or str(pathlib.Path(os.environ.get("TANDEM_BIN", ROOT / ".build" / "debug")) / "tandemctl")
UNAVAILABLE = ('IPVS is not available in this kernel (the genl family "IPVS" was not found): '
               'load it with modprobe ip_vs')


def host_has_ipvs():
    return pathlib.Path("/proc/net/ip_vs").exists()


def test_doctor_says_ipvs_unavailable_with_modprobe_hint():
    assert not host_has_ipvs(), "this test is for hosts without IPVS; inside the VM use integration/vm"
    proc = subprocess.run([TANDEMCTL, "doctor"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    fails = [l for l in proc.stdout.splitlines() if l.startswith("FAIL  IPVS: ")]
    assert len(fails) == 1, proc.stdout
    assert UNAVAILABLE in fails[0]


def test_ipvs_show_gives_one_clear_error():
    assert not host_has_ipvs()
    proc = subprocess.run([TANDEMCTL, "ipvs", "show"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 69
    assert proc.stderr.strip() == UNAVAILABLE
    assert proc.stdout == ""
