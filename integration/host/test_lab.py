"""The README's main job, run in its VIP-only form on the host kernel: two real tandemd, a client,
a crash of the active router, and the takeover the client sees."""
import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_lab_vip_only(bin_dir):
    env = dict(os.environ, TANDEM_BIN=str(bin_dir))
    r = subprocess.run([str(ROOT / "integration" / "lab"), "--vip-only"], capture_output=True, text=True,
                       timeout=240, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "role starting -> active" in out and "role starting -> standby" in out
    assert re.search(r"\d+/\d+ requests answered, served by r1", out)
    assert "role standby -> active: r1 silent for" in out
    m = re.search(r"client-observed outage: (\d+) ms between two answered requests", out)
    assert m, out
    assert int(m.group(1)) < 2000          # dead time 400 ms, plus probe timeouts and announcement
    assert re.search(r"takeover: r2 became active \d+ ms after the crash", out)
    assert re.search(r"after the crash: \d+/\d+ requests answered, served by .*r2", out)
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "lab-" not in left              # cleaned up
