"""The README's main job with IPVS, inside the VM: a NAT pair of real tandemd, real servers behind
them, a client through the VIP, a crash of the active router. The independent views are the
client's answers (which real server served it) and ipvsadm -Ln in each router's namespace."""
import os
import re
import subprocess

from vmlib import ROOT


def test_lab_nat_failover_with_ipvs():
    env = dict(os.environ, LAB_INSIDE_VM="1", TANDEM_BIN=str(ROOT / ".build" / "debug"))
    r = subprocess.run([str(ROOT / "integration" / "lab"), "--no-vm"], capture_output=True, text=True,
                       timeout=900, env=env)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    assert "role starting -> active" in out
    # Before the crash: both real servers answer through r1's IPVS table (round robin).
    assert re.search(r"\d+/\d+ requests answered, served by rs1, rs2", out), out
    tables = re.findall(r"TCP  192\.0\.2\.10:80 rr\n  -> 10\.20\.0\.11:8080 +Masq +1 .*\n  -> 10\.20\.0\.12:8080 +Masq +1 ", out)
    assert len(tables) == 2, out          # on r1 before, and on r2 after the takeover
    assert "role standby -> active: r1 silent for" in out
    assert re.search(r"after the crash: \d+/\d+ requests answered, served by rs1, rs2", out), out
