"""The genl IPVS client through `tandemctl ipvs apply/show/sync`, with ipvsadm as the oracle."""
import pathlib
import re
import tempfile

import pytest

from vmlib import EXAMPLES, TANDEMCTL, ipvsadm_save, run, tandemctl

# Examples with virtual servers (read from the files: collection must not wait on slow binaries).
WITH_SERVICES = sorted(p.name for p in EXAMPLES.glob("*.yaml")
                       if re.search(r"^virtual_servers:", p.read_text(), re.MULTILINE))


def desired(path):
    return tandemctl("show-config", str(path), "--format", "ipvsadm", check=True).stdout


@pytest.mark.parametrize("example", WITH_SERVICES)
def test_apply_matches_show_config_and_reapply_writes_nothing(example):
    path = EXAMPLES / example
    first = tandemctl("ipvs", "apply", str(path))
    assert first.returncode == 0, first.stdout + first.stderr
    assert ipvsadm_save() == desired(path)
    second = tandemctl("ipvs", "apply", str(path))
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.startswith("nothing to change"), second.stdout
    assert ipvsadm_save() == desired(path)


def test_examples_cover_ipv6_and_fwmark():
    assert "ipv6.yaml" in WITH_SERVICES and "fwmark-persistence.yaml" in WITH_SERVICES
    tandemctl("ipvs", "apply", str(EXAMPLES / "ipv6.yaml"), check=True)
    tandemctl("ipvs", "apply", str(EXAMPLES / "fwmark-persistence.yaml"), check=True)
    saved = ipvsadm_save().splitlines()
    assert "-A -t [2001:db8:1::80]:80 -s lc -p 600 -M 64" in saved
    assert "-A -f 80 -s wlc -p 3600 -M 255.255.255.0" in saved


def test_show_matches_ipvsadm_listing():
    tandemctl("ipvs", "apply", str(EXAMPLES / "reference.yaml"), check=True)
    for ours, theirs in ((["ipvs", "show"], ["-Ln"]),
                         (["ipvs", "show", "--stats", "--exact"], ["-Ln", "--stats", "--exact"]),
                         (["ipvs", "show", "--rate"], ["-Ln", "--rate"]),
                         (["ipvs", "show", "--thresholds"], ["-Ln", "--thresholds"]),
                         (["ipvs", "show", "--tun-info"], ["-Ln", "--tun-info"]),
                         (["ipvs", "show", "--timeout"], ["-L", "--timeout"])):
        assert tandemctl(*ours, check=True).stdout == run("ipvsadm", *theirs, check=True).stdout, ours


def test_show_json_has_counters():
    import json
    tandemctl("ipvs", "apply", str(EXAMPLES / "nat-http-dns.yaml"), check=True)
    doc = json.loads(tandemctl("ipvs", "show", "--json", check=True).stdout)
    assert doc["version"] == "1.2.1"
    assert len(doc["services"]) == 2
    assert all("stats" in s and all("active_connections" in r for r in s["real_servers"]) for s in doc["services"])


def test_drift_is_repaired_and_foreign_service_survives():
    path = EXAMPLES / "nat-http-dns.yaml"
    tandemctl("ipvs", "apply", str(path), check=True)
    run("ipvsadm", "-e", "-t", "203.0.113.10:80", "-r", "10.20.0.11:8080", "-m", "-w", "7", check=True)
    run("ipvsadm", "-d", "-u", "203.0.113.10:53", "-r", "10.20.0.22:53", check=True)
    run("ipvsadm", "-A", "-t", "192.0.2.200:8080", "-s", "rr", check=True)
    run("ipvsadm", "-a", "-t", "192.0.2.200:8080", "-r", "10.9.9.9:8080", "-m", check=True)
    # A foreign real server inside an owned service survives too.
    run("ipvsadm", "-a", "-t", "203.0.113.10:80", "-r", "10.20.0.99:8080", "-m", check=True)

    proc = tandemctl("ipvs", "apply", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = [l for l in proc.stdout.splitlines() if l[:2] in ("+ ", "~ ", "- ")]
    assert len(plan) == 2, proc.stdout
    saved = ipvsadm_save()
    for line in desired(path).splitlines():
        assert line in saved.splitlines()
    assert "-A -t 192.0.2.200:8080 -s rr" in saved
    assert "-a -t 192.0.2.200:8080 -r 10.9.9.9:8080 -m -w 1" in saved
    assert "-a -t 203.0.113.10:80 -r 10.20.0.99:8080 -m -w 1" in saved
    assert tandemctl("ipvs", "apply", str(path), check=True).stdout.startswith("nothing to change")


def test_dry_run_writes_nothing():
    path = EXAMPLES / "tunnel.yaml"
    proc = tandemctl("ipvs", "apply", "--dry-run", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "+ -A -t 192.0.2.50:443 -s mh -b mh-port" in proc.stdout
    assert ipvsadm_save() == ""


def test_one_failing_change_is_named_and_others_apply():
    # ip_vs_twos is newer than this kernel, so the kernel answers ENOENT for that service only.
    text = (EXAMPLES / "nat-http-dns.yaml").read_text().replace("scheduler: rr", "scheduler: twos")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    proc = tandemctl("ipvs", "apply", f.name)
    pathlib.Path(f.name).unlink()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "create service udp 203.0.113.10:53 failed: No such file or directory (ENOENT); " \
           "scheduler module ip_vs_twos missing: modprobe ip_vs_twos" in proc.stderr
    assert "add real server 10.20.0.21:53 to udp 203.0.113.10:53 failed" in proc.stderr  # ESRCH follows
    assert "(ESRCH)" in proc.stderr
    saved = ipvsadm_save().splitlines()
    assert "-A -t 203.0.113.10:80 -s wlc" in saved
    assert not any("203.0.113.10:53" in l for l in saved)


def test_sync_daemons_master_and_backup():
    tandemctl("ipvs", "sync", "start", "master", "--interface", "lo", "--syncid", "7", check=True)
    tandemctl("ipvs", "sync", "start", "backup", "--interface", "lo", "--syncid", "9",
              "--group", "239.0.0.9", "--port", "8850", "--ttl", "2", check=True)
    listing = run("ipvsadm", "-L", "--daemon", check=True).stdout
    assert re.search(r"^master sync daemon \(mcast=lo, syncid=7\b", listing, re.M), listing
    assert re.search(r"^backup sync daemon \(mcast=lo, syncid=9\b.*group=239\.0\.0\.9, port=8850, ttl=2\)$",
                     listing, re.M), listing
    assert tandemctl("ipvs", "show", "--daemon", check=True).stdout == listing

    again = tandemctl("ipvs", "sync", "start", "master", "--interface", "lo", "--syncid", "7")
    assert again.returncode == 1
    assert "(EEXIST); a master sync daemon is already running" in again.stderr, again.stderr

    tandemctl("ipvs", "sync", "stop", "master", check=True)
    tandemctl("ipvs", "sync", "stop", "backup", check=True)
    assert run("ipvsadm", "-L", "--daemon", check=True).stdout == ""
    missing = tandemctl("ipvs", "sync", "stop", "backup")
    assert missing.returncode == 1 and "(ESRCH); no backup sync daemon is running" in missing.stderr, missing.stderr


def test_sync_daemon_on_missing_interface():
    proc = tandemctl("ipvs", "sync", "start", "master", "--interface", "tdm-nosuch0", "--syncid", "1")
    assert proc.returncode == 1
    assert "(ENODEV); interface tdm-nosuch0 does not exist" in proc.stderr, proc.stderr


def test_unprivileged_read_gets_eperm():
    proc = run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
               "--bounding-set=-all", TANDEMCTL, "ipvs", "show")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "(EPERM); reading IPVS needs CAP_NET_ADMIN: run as root" in proc.stderr, proc.stderr


def test_batched_apply_of_many_services():
    lines = ["serial: 1",
             "nodes:",
             "  - {name: a, addresses: [192.0.2.1], priority: 100}",
             "  - {name: b, addresses: [192.0.2.2], priority: 50}",
             "heartbeat: {interval: 1s, dead_time: 3s, auth: none}",
             "virtual_ips:",
             "  - {address: 198.18.0.1/16, interface: lo}",
             "virtual_servers:"]
    for i in range(300):
        lines += [f"  - name: s{i}", "    address: 198.18.0.1", f"    port: {1000 + i}", "    forwarding: nat",
                  "    real_servers:",
                  f"      - {{address: 10.30.{i // 200}.{i % 200 + 1}, port: 80}}",
                  f"      - {{address: 10.31.{i // 200}.{i % 200 + 1}, port: 80}}"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        check = tandemctl("check-config", f.name)
        assert check.returncode == 0, check.stdout + check.stderr
        proc = tandemctl("ipvs", "apply", f.name, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
        m = re.search(r"applied (\d+) of (\d+) changes .* in (\d+) batch", proc.stdout)
        assert m and m.group(1) == m.group(2) == "900", proc.stdout[-500:]
        assert int(m.group(3)) < 20
        assert ipvsadm_save() == desired(f.name)
    finally:
        pathlib.Path(f.name).unlink()
