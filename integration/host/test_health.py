"""`tandemctl health check` against loopback servers: state follows the server within
fall × interval + timeout and rise × interval; bad servers fail at their timeout with bounded
memory; agent feedback scales the weight.

Run as root after `swift build`:  python3 -m pytest integration/host/test_health.py
"""
import json
import os
import select
import subprocess
import time

import pytest

from health_servers import Server, config_yaml


def write_config(tmp_path, services):
    f = tmp_path / "tandem.yaml"
    f.write_text(config_yaml(services))
    return f


def once(tandemctl, cfg):
    r = tandemctl("health", "check", cfg, "--json")
    assert r.returncode in (0, 1), r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()], r.returncode


class Watch:
    """`tandemctl health check --watch N` with its JSON lines read as they come."""

    def __init__(self, bin_dir, cfg, seconds):
        self.proc = subprocess.Popen([str(bin_dir / "tandemctl"), "health", "check", str(cfg), "--watch", str(seconds)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.buf = b""
        self.events = []

    def next_event(self, timeout, pred=lambda e: True):
        """The next event matching pred, with the monotonic time it was read; None at timeout."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                e = json.loads(line)
                self.events.append(e)
                if pred(e):
                    return e, time.monotonic()
            left = deadline - time.monotonic()
            if left <= 0:
                return None, time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    return None, time.monotonic()
                self.buf += chunk

    def drain(self):
        """Waits for the end and reads every remaining event."""
        rest, _ = self.proc.communicate(timeout=30)
        self.buf += rest
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            self.events.append(json.loads(line))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


INTERVAL, TIMEOUT, RISE, FALL = 0.2, 0.1, 2, 3
SLACK = 0.35


def test_http_up_down_up(tmp_path, bin_dir):
    srv = Server("http").start()
    cfg = write_config(tmp_path, [("web", 80, {"type": "http", "path": "/healthz", "body": '"^all ok"',
                                               "interval": "200ms", "timeout": "100ms", "rise": RISE, "fall": FALL},
                                   [("127.0.0.1", srv.port, 10)])])
    w = Watch(bin_dir, cfg, 20)
    try:
        e, _ = w.next_event(INTERVAL + TIMEOUT + SLACK, lambda e: e["event"] == "change")
        assert e and e["old"] == "unknown" and e["new"] == "up", w.events
        assert e["weight"] == 10

        srv.stop()
        stopped = time.monotonic()
        e, seen = w.next_event(5, lambda e: e["event"] == "change")
        assert e and e["new"] == "down", w.events
        assert "3 consecutive failures (fall 3)" in e["reason"] and "connection refused" in e["reason"]
        assert seen - stopped <= FALL * INTERVAL + TIMEOUT + SLACK, seen - stopped
        assert e["weight"] is None

        srv.start()
        restarted = time.monotonic()
        e, seen = w.next_event(5, lambda e: e["event"] == "change")
        assert e and e["old"] == "down" and e["new"] == "up", w.events
        assert "2 consecutive successes (rise 2)" in e["reason"] and "HTTP 200" in e["reason"]
        assert seen - restarted <= RISE * INTERVAL + SLACK, seen - restarted
    finally:
        w.close()
        srv.stop()


BAD = [
    # behaviour, check, expected reason (substring), must take the whole timeout
    ("silent", {"type": "http"}, "timed out after 300ms", True),
    ("garbage", {"type": "http"}, "not an HTTP response", False),
    ("close", {"type": "http"}, "connection closed before a response", False),
    ("endless-http", {"type": "http"}, "the server sent more than 81920 bytes", False),
    ("silent", {"type": "tcp", "send": '"PING\\r\\n"', "expect": '"^\\\\+PONG"'}, "timed out after 300ms", True),
    ("garbage", {"type": "tcp", "send": '"PING\\r\\n"', "expect": '"^\\\\+PONG"'}, "does not match", False),
    ("close", {"type": "tcp", "expect": '"^220"'}, "connection closed without a reply", False),
    ("endless", {"type": "tcp", "expect": '"^220"'}, "in the first 16384 bytes", False),
    ("silent", {"type": "agent", "port": "{port}"}, "timed out after 300ms", True),
    ("endless", {"type": "agent", "port": "{port}"}, "agent reply longer than 1024 bytes", False),
]


@pytest.mark.parametrize("behaviour,check,reason,full", BAD, ids=[f"{b}-{c['type']}" for b, c, _, _ in BAD])
def test_bad_server_fails_at_its_timeout(tmp_path, tandemctl, behaviour, check, reason, full):
    srv = Server(behaviour).start()
    try:
        check = {k: (v.format(port=srv.port) if isinstance(v, str) else v) for k, v in check.items()}
        check.update({"interval": "1s", "timeout": "300ms"})
        cfg = write_config(tmp_path, [("svc", 80, check, [("127.0.0.1", srv.port, 1)])])
        start = time.monotonic()
        results, rc = once(tandemctl, cfg)
        took = time.monotonic() - start
        assert rc == 1 and len(results) == 1
        assert results[0]["passed"] is False
        assert reason in results[0]["reason"], results[0]
        assert results[0]["ms"] <= 300 + 150
        if full:
            assert results[0]["ms"] >= 290
        assert took < 5
    finally:
        srv.stop()


def test_memory_stays_bounded_against_endless_servers(tmp_path, bin_dir):
    """Eight endless servers streaming as fast as loopback allows, checked every 100 ms for 6 s:
    without the read limits this would buffer gigabytes."""
    servers = [Server("endless-http" if i % 2 else "endless").start() for i in range(8)]
    try:
        services = []
        for i, s in enumerate(servers):
            check = {"type": "http", "interval": "100ms", "timeout": "90ms"} if i % 2 else \
                    {"type": "tcp", "expect": '"^220"', "interval": "100ms", "timeout": "90ms"}
            services.append((f"s{i}", 80 + i, check, [("127.0.0.1", s.port, 1)]))
        cfg = write_config(tmp_path, services)
        w = Watch(bin_dir, cfg, 6)
        try:
            peak = 0
            end = time.monotonic() + 5.5
            while time.monotonic() < end:
                peak = max(peak, w.rss_kib())
                w.next_event(0.1)
            w.drain()
            finals = [e for e in w.events if e["event"] == "final"]
            assert len(finals) == 8
            assert all(e["status"] == "down" and e["passed"] is False for e in finals), finals
            print(f"peak RSS {peak} KiB")
            assert peak < 96 * 1024, f"RSS {peak} KiB"
        finally:
            w.close()
    finally:
        for s in servers:
            s.stop()


def test_agent_half_weight(tmp_path, tandemctl):
    agent = Server("agent:up 50%").start()
    web = Server("http").start()
    try:
        cfg = write_config(tmp_path, [("api", 8000, {"type": "agent", "port": agent.port},
                                       [("127.0.0.1", web.port, 10)])])
        results, rc = once(tandemctl, cfg)
        assert rc == 0
        assert results[0]["passed"] is True and results[0]["reason"] == 'agent replied "up 50%"'
        assert results[0]["configured_weight"] == 10 and results[0]["weight"] == 5
    finally:
        agent.stop()
        web.stop()


def test_exec_check_substitutes_address_and_port(tmp_path, tandemctl):
    marker = tmp_path / "seen"
    cfg = write_config(tmp_path, [("x", 80, {"type": "exec",
                                             "command": f'[/bin/sh, -c, "echo $0:$1 > {marker}", "%h", "%p"]'},
                                   [("127.0.0.1", 8080, 1)])])
    results, rc = once(tandemctl, cfg)
    assert rc == 0 and results[0]["reason"] == "sh exited 0"
    assert marker.read_text().strip() == "127.0.0.1:8080"


def test_service_filter_and_unknown_service(tmp_path, tandemctl):
    srv = Server("http").start()
    try:
        cfg = write_config(tmp_path, [("a", 80, {"type": "tcp"}, [("127.0.0.1", srv.port, 1)]),
                                      ("b", 81, {"type": "http"}, [("127.0.0.1", srv.port, 1)])])
        results, rc = once(tandemctl, cfg)
        assert rc == 0 and len(results) == 2
        r = tandemctl("health", "check", cfg, "--json", "--service", "b")
        assert r.returncode == 0 and [json.loads(l)["service"] for l in r.stdout.splitlines()] == ["b"]
        r = tandemctl("health", "check", cfg, "--service", "nope")
        assert r.returncode == 78 and 'no virtual server is called "nope"' in r.stderr
    finally:
        srv.stop()


def test_https_sni_and_certificate_verification(tmp_path, tandemctl):
    from health_servers import TLSServer
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=www.example.test",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    srv = TLSServer(str(cert), str(key)).start()
    try:
        base = {"type": "https", "sni": "www.example.test", "path": "/healthz", "body": '"^all ok"', "timeout": "500ms"}
        cfg = write_config(tmp_path, [("tls", 443, base, [("127.0.0.1", srv.port, 1)])])
        results, rc = once(tandemctl, cfg)
        assert rc == 0, results
        assert results[0]["reason"] == 'HTTP 200, body matched "^all ok"'
        assert srv.sni == ["www.example.test"]
        # A self-signed certificate fails verification.
        cfg = write_config(tmp_path, [("tls", 443, dict(base, verify_certificate="true"), [("127.0.0.1", srv.port, 1)])])
        results, rc = once(tandemctl, cfg)
        assert rc == 1 and results[0]["reason"].startswith("TLS: "), results
        # Plain HTTP against the TLS port is not an HTTP response.
        cfg = write_config(tmp_path, [("tls", 443, {"type": "http", "timeout": "500ms"}, [("127.0.0.1", srv.port, 1)])])
        results, rc = once(tandemctl, cfg)
        assert rc == 1 and not results[0]["passed"]
    finally:
        srv.stop()
