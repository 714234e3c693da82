"""/metrics of a real pair, scraped by a real Prometheus server, on the host kernel.

Run as root after `swift build`:  python3 -m pytest -v -s integration/host/test_metrics.py
Needs Debian's `prometheus` package (prometheus and promtool; integration/setup installs it).

The pair (ra in namespace a, rb in b) serves /metrics on its heartbeat addresses, both listed in
the one shared config; Prometheus runs in the client namespace c and scrapes both every 250 ms.
The oracles are Prometheus's HTTP API, `promtool check metrics` and `promtool test rules` with
the example rules in examples/prometheus/, never the daemon's own word alone.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from failover_pair import ADDR, Pair  # noqa: E402
from vip_topology import REPO  # noqa: E402

RULES = REPO / "examples" / "prometheus" / "tandem-alerts.yaml"
PROM_PORT = 9090



@pytest.fixture(autouse=True)
def prometheus_installed():
    """Fails (never skips) without Debian's prometheus package: a missing install step must show."""
    missing = [tool for tool in ("prometheus", "promtool") if shutil.which(tool) is None]
    assert not missing, f"{', '.join(missing)} not found: run integration/setup --for test (it installs Debian's prometheus)"


@pytest.fixture
def pair(topo):
    # A dead time that a loaded 2-core host (and the Prometheus server beside the pair) does not
    # trip: these tests count role changes.
    p = Pair(topo, interval_ms=20, dead_ms=200)
    p.metrics_port = 20000 + secrets.randbelow(20000)
    while p.metrics_port == p.port:
        p.metrics_port = 20000 + secrets.randbelow(20000)
    p.config.write_text(p.config_text(tail=f"metrics: {{listen: [{ADDR['a']}:{p.metrics_port}, {ADDR['b']}:{p.metrics_port}]}}\n"))
    yield p
    p.close()


# What Prometheus 2.42 sends: it prefers OpenMetrics.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def scrape(pair, node, path="/metrics", accept=None):
    """(status, headers text, body) of a GET from the client namespace, through curl."""
    url = f"http://{ADDR[node]}:{pair.metrics_port}{path}"
    extra = ["-H", f"Accept: {accept}"] if accept else []
    r = pair.topo.exec("c", "curl", "-s", "-S", "-D", "-", "--max-time", "5", *extra, url, check=False)
    assert r.returncode == 0, f"curl {url}: {r.stderr}"
    # text mode turns the CRLFs into LFs: the head ends at the first empty line.
    head, _, body = r.stdout.partition("\n\n")
    return int(head.split()[1]), head, body


def samples(body):
    """{(name, frozenset(labels)): value} of an exposition; labels without escapes (Tandem's here)."""
    out = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, rest = series.partition("{")
        labels = frozenset(tuple(kv.split("=", 1)) for kv in rest.rstrip("}").replace('"', "").split(",") if kv) if rest else frozenset()
        out[(name, labels)] = float(value)
    return out


class PrometheusServer:
    def __init__(self, pair):
        self.pair = pair
        self.dir = Path(tempfile.mkdtemp(prefix="tdm-prom-"))
        targets = [f"{ADDR[n]}:{pair.metrics_port}" for n in ("a", "b")]
        (self.dir / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "250ms", "scrape_timeout": "200ms", "evaluation_interval": "250ms"},
            "scrape_configs": [{"job_name": "tandem", "static_configs": [{"targets": targets}]}],
        }))
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = pair.topo.popen("c", "prometheus", f"--config.file={self.dir}/prometheus.yml",
                                    f"--storage.tsdb.path={self.dir}/data", f"--web.listen-address=127.0.0.1:{PROM_PORT}",
                                    stdout=self.log, stderr=self.log)
        self.wait(lambda: self.get("/-/ready", raw=True) == "ready", 30, "prometheus ready")

    def get(self, path, raw=False, **params):
        url = f"http://127.0.0.1:{PROM_PORT}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        r = self.pair.topo.exec("c", "curl", "-s", "--max-time", "5", url, check=False)
        if raw:
            return "ready" if "Ready" in r.stdout else r.stdout
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout else None

    def query(self, expr):
        """{instance: value} of an instant query."""
        answer = self.get("/api/v1/query", query=expr)
        assert answer and answer["status"] == "success", answer
        return {s["metric"].get("instance"): float(s["value"][1]) for s in answer["data"]["result"]}

    def query_range(self, expr, start, end, step="0.25"):
        answer = self.get("/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step)
        assert answer and answer["status"] == "success", answer
        return answer["data"]["result"]

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except (json.JSONDecodeError, AssertionError, KeyError):
                pass
            time.sleep(0.2)
        self.log.flush()
        raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{(self.dir / 'prometheus.log').read_text()[-3000:]}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_exposition_passes_promtool_and_matches_status(pair):
    pair.start_settled()
    for node, role in (("a", "active"), ("b", "standby")):
        status, head, body = scrape(pair, node)
        assert status == 200 and "text/plain; version=0.0.4" in head, head
        lint = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
        assert lint.returncode == 0, f"promtool check metrics on {node}: {lint.stdout}{lint.stderr}\n{body}"
        s = samples(body)
        report = json.loads(pair.ctl(node, "status", "--json").stdout)
        assert s.get(("tandem_role", frozenset({("state", role)}))) == 1 and report["role"] == role, (report["role"], body)
        assert s[("tandem_effective_priority", frozenset())] == report["effective_priority"]
        assert s[("tandem_config_serial", frozenset())] == report["config"]["serial"]
        assert s[("tandem_config_info", frozenset({("digest", report["config"]["digest"])}))] == 1
        assert s[("tandem_peer_alive", frozenset())] == (1 if report["peer"]["alive"] else 0)
        assert s[("tandem_vip_held", frozenset({("vip", "10.99.0.10/24"), ("interface", "eth0")}))] == (1 if role == "active" else 0)
        assert s[("process_open_fds", frozenset())] > 0
        # Every round after the first is timed; the histogram's +Inf bucket equals its count.
        rounds = s[("tandem_heartbeat_send_lateness_seconds_count", frozenset())]
        assert rounds > 0 and s[("tandem_heartbeat_send_lateness_seconds_bucket", frozenset({("le", "+Inf")}))] == rounds
        path = frozenset({("path", f"{ADDR[node]} -> {ADDR['b' if node == 'a' else 'a']}")})
        assert s[("tandem_heartbeats_sent_total", path)] > 0 and s[("tandem_heartbeats_received_total", path)] > 0, body
        assert s[("tandem_heartbeats_dropped_total", path | {("reason", "malformed")})] == 0
        jitter = s[("tandem_heartbeat_arrival_jitter_seconds", path)]
        assert 0 <= jitter < 0.01, f"arrival jitter {jitter}s on a quiet 10 ms pair"
        # Asked as Prometheus asks: OpenMetrics, the same samples, counters' families without _total, # EOF.
        status, head, om = scrape(pair, node, accept=PROMETHEUS_ACCEPT)
        assert status == 200 and "application/openmetrics-text; version=1.0.0" in head, head
        assert om.endswith("# EOF\n") and "# TYPE tandem_heartbeats_sent counter" in om, om[-300:]
        o = samples(om)
        assert o[("tandem_config_serial", frozenset())] == s[("tandem_config_serial", frozenset())]
        assert o.get(("tandem_role", frozenset({("state", role)}))) == 1
    # The active's announcements are counted; a VIP removed by hand is counted and put back.
    vip = frozenset({("vip", "10.99.0.10/24"), ("interface", "eth0")})
    assert samples(scrape(pair, "a")[2])[("tandem_vip_announcements_total", vip | {("result", "sent")})] >= 1
    pair.topo.ip("a", "addr", "del", "10.99.0.10/24", "dev", "eth0")
    pair.wait_for(lambda: pair.holds_vip("a"), timeout=10, what="ra puts the VIP back")
    pair.wait_for(lambda: samples(scrape(pair, "a")[2]).get(("tandem_vip_foreign_removals_total", vip)) == 1, timeout=10,
                  what="one foreign removal counted")
    # Other paths and methods, and an oversized request, are refused.
    assert scrape(pair, "a", "/")[0] == 404
    r = pair.topo.exec("c", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "--max-time", "5",
                       f"http://{ADDR['a']}:{pair.metrics_port}/metrics", check=False)
    assert r.stdout == "405", r.stdout
    big = pair.topo.exec("c", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "-H", "X-Pad: " + "x" * 10000,
                         f"http://{ADDR['a']}:{pair.metrics_port}/metrics", check=False)
    assert big.stdout in ("000", "400", "431"), f"a 10 kB request was answered {big.stdout}"
    assert scrape(pair, "a")[0] == 200, "the server serves again after refusing a hostile request"


def test_prometheus_sees_the_failover_and_the_rules_fire(pair):
    pair.start_settled()
    prom = PrometheusServer(pair)
    try:
        a, b = f"{ADDR['a']}:{pair.metrics_port}", f"{ADDR['b']}:{pair.metrics_port}"
        prom.wait(lambda: prom.query('tandem_role{state="active"}') == {a: 1.0, b: 0.0}, 30, "ra active, rb standby in prometheus")
        before = time.time()
        time.sleep(1)
        pair.kill("a")
        pair.wait_for(lambda: pair.role("b") == "active" and pair.holds_vip("b"), timeout=10, what="rb active")
        prom.wait(lambda: prom.query('tandem_role{state="active"}').get(b) == 1.0 and prom.query("up").get(a) == 0.0, 30,
                  "rb active and ra down in prometheus")
        time.sleep(1)
        after = time.time()
        # The role series show the change: rb's active series went 0 -> 1, ra's ended at 1.
        series = {r["metric"]["instance"]: [float(v) for _, v in r["values"]]
                  for r in prom.query_range('tandem_role{state="active"}', before, after)}
        assert series[b][0] == 0.0 and series[b][-1] == 1.0, series[b]
        assert series[a][0] == 1.0, series[a]
        changes = prom.query('tandem_role_changes_total{to="active",reason="peer_silent"}')
        assert changes.get(b, 0) >= 1.0, (changes, pair.roles("b"))
        # rb's own counter equals the takeovers on silence its log shows.
        counted = samples(scrape(pair, "b")[2]).get(("tandem_role_changes_total", frozenset(
            {("from", "standby"), ("to", "active"), ("reason", "peer_silent")})))
        logged = [r for f, t, r in pair.roles("b") if (f, t) == ("standby", "active") and "silent" in r]
        assert counted == len(logged) >= 1, (counted, pair.roles("b"))
        print(f"\n[metrics] rb role series: {series[b].count(0.0)} samples standby, {series[b].count(1.0)} active")

        # promtool test rules on what Prometheus recorded for rb, held for 2 more minutes (the
        # failure lasts): TandemPeerSilent fires for rb, TandemNoActiveRouter does not.
        def recorded(expr):
            result = prom.query_range(expr, before, after, step="1")
            assert len(result) == 1, (expr, result)
            values = [v for _, v in result[0]["values"]]
            return result[0]["metric"], " ".join(values + [values[-1]] * 120)
        inputs = []
        for expr in (f'tandem_peer_alive{{instance="{b}"}}', f'tandem_role{{instance="{b}",state="stopping"}}',
                     f'tandem_role{{instance="{b}",state="active"}}'):
            metric, values = recorded(expr)
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
            inputs.append({"series": f'{metric["__name__"]}{{{labels}}}', "values": values})
        end = len(inputs[0]["values"].split()) - 1
        test = {
            "rule_files": [str(RULES)],
            "evaluation_interval": "1s",
            "tests": [{
                "interval": "1s",
                "input_series": inputs,
                "alert_rule_test": [
                    {"eval_time": f"{end}s", "alertname": "TandemPeerSilent",
                     "exp_alerts": [{"exp_labels": {"severity": "warning", "job": "tandem", "instance": b},
                                     "exp_annotations": {
                                         "summary": f"{b} does not hear its peer",
                                         "description": "No authentic heartbeat from the peer within the dead time for a minute: "
                                                        "the peer is down or every heartbeat path is cut. There is no standby to fail over to."}}]},
                    {"eval_time": f"{end}s", "alertname": "TandemNoActiveRouter", "exp_alerts": []},
                ],
            }],
        }
        path = prom.dir / "failover.test.yaml"
        path.write_text(json.dumps(test))
        result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        prom.close()


HOSTILE = r"""
import socket, sys, time
host, port, cap, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def connect():
    s = socket.create_connection((host, port), timeout=timeout + 5)
    return s
def get(s):
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return b"RESET"
        if not chunk:
            return data
        data += chunk
    return data
# `cap` silent connections (a slowloris sends half a request line) fill the server.
idle = [connect() for _ in range(cap)]
for s in idle:
    s.sendall(b"GET /met")
time.sleep(0.5)
extra = connect()
print("over_cap", repr(get(extra)[:12]))
start = time.monotonic()
closed = sum(1 for s in idle if s.recv(1) == b"")
print("idle_closed", closed, "after", round(time.monotonic() - start, 1))
print("after", repr(get(connect())[:12]))
"""


def test_slow_and_excess_scrapers_are_cut_off(pair):
    """More connections than the cap are closed at once; silent ones after the request timeout
    (10 s); then scrapes are served again."""
    pair.start_settled()
    r = pair.topo.exec("c", "python3", "-c", HOSTILE, ADDR["a"], str(pair.metrics_port), "16", "10", timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["over_cap"] in ("b''", "b'RESET'"), r.stdout
    closed, _, after = lines["idle_closed"].partition(" after ")
    assert int(closed) == 16 and 9 <= float(after) <= 12, r.stdout
    assert lines["after"].startswith("b'HTTP/1.1 200"), r.stdout
    assert pair.role("a") == "active" and pair.role("b") == "standby", "the scrapers disturbed the pair"


def test_example_rules_pass_promtool():
    assert subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True).returncode == 0
    tests = RULES.with_name("tandem-alerts.test.yaml")
    result = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_scrape_of_the_vip_is_answered_by_whichever_router_holds_it(pair):
    """Operators scrape "whoever is active" through the VIP. An operator trial found the VIP's
    endpoint bound only by a router that held the VIP at start, and never after a failover. Both
    bind it (IP_FREEBIND) whatever they hold: the scrape, from the client through the VIP, says
    ra is active, then after `tandemctl failover` that rb is."""
    vip = "10.99.0.10"
    pair.config.write_text(pair.config_text(tail=f"metrics: {{listen: [{vip}:{pair.metrics_port}]}}\n"))
    pair.start_settled()

    def active_by_vip():
        """The priority of the router that answers on the VIP (ra 100, rb 90), if it is active."""
        r = pair.topo.exec("c", "curl", "-s", "-S", "--max-time", "5", f"http://{vip}:{pair.metrics_port}/metrics", check=False)
        if r.returncode != 0:
            return None
        values = samples(r.stdout)
        active = values.get(("tandem_role", frozenset({("state", "active")}))) == 1
        return values.get(("tandem_priority", frozenset())) if active else None

    pair.wait_for(lambda: active_by_vip() == 100, 10, what="the VIP's scrape answered by ra, active")
    r = pair.ctl("a", "failover")
    assert r.returncode == 0, r.stdout + r.stderr
    pair.wait_for(lambda: pair.holders() == {"b"}, 10, what="the VIP on rb")
    pair.wait_for(lambda: active_by_vip() == 90, 10, what="the VIP's scrape answered by rb, active")
    assert "(a VIP: answered while this node holds it)" in pair.log("b")


def test_metrics_are_served_once_a_late_address_appears(pair):
    """Trial 34: rb started before its address was up (a late VLAN, bond or DHCP at boot) and
    never served /metrics, although its other listeners recovered. Now rb retries the address:
    while it is missing, `status` (text and JSON) says /metrics is not served there; once the
    address is added, a scrape from the client gets an answer within the retry ceiling (10 s).
    ra, whose shared config lists rb's address too, reports nothing missing: that address is rb's."""
    late = f"{ADDR['b']}:{pair.metrics_port}"
    pair.start("a")
    pair.wait_for(lambda: pair.role("a") == "active" and pair.holds_vip("a"), timeout=10, what="ra active")
    pair.topo.ip("b", "addr", "del", f"{ADDR['b']}/24", "dev", "eth0")
    pair.start("b")

    def not_listening(node):
        r = pair.ctl(node, "status", "--json")
        return json.loads(r.stdout).get("metrics_not_listening") if r.returncode == 0 and r.stdout else None

    missing = pair.wait_for(lambda: not_listening("b"), timeout=10, step=0.1, what="rb's status lists its metrics address as not served")
    assert [m["listen"] for m in missing] == [late] and "not an address of this node yet" in missing[0]["reason"], missing
    text = pair.ctl("b", "status").stdout
    assert f"WARNING: /metrics is not served on {late}: not an address of this node yet" in text, text
    assert scrape_code(pair, "b") != "200", "rb answered on an address it does not have"
    assert not_listening("a") is None, "ra reports rb's address, which is not its own, as not served"

    pair.topo.ip("b", "addr", "add", f"{ADDR['b']}/24", "dev", "eth0")
    added = time.monotonic()
    pair.wait_for(lambda: scrape_code(pair, "b") == "200", timeout=12, step=0.2, what=f"/metrics answered on {late}")
    print(f"\n[metrics] rb served /metrics {time.monotonic() - added:.1f}s after its address appeared")
    assert f"metrics: serving GET /metrics on {late} (after retrying)" in pair.log("b")
    pair.wait_for(lambda: not_listening("b") is None, timeout=5, step=0.1, what="rb's status no longer lists the address")
    assert "/metrics is not served" not in pair.ctl("b", "status").stdout


def scrape_code(pair, node):
    """The HTTP status code of a GET /metrics from the client ("000" when nothing answers)."""
    r = pair.topo.exec("c", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                       f"http://{ADDR[node]}:{pair.metrics_port}/metrics", check=False)
    return r.stdout.strip()
