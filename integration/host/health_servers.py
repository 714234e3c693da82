"""Loopback servers for health-check tests: good and deliberately bad ones.

Each server runs in a daemon thread of the test process, listens on 127.0.0.1 (or a given
address) and can be stopped and restarted on the same port. Every loop is bounded by the
server's lifetime; `endless` writes only while the client keeps reading.
"""
import socket
import threading
import time

OK_BODY = b"all ok\n"
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n" + OK_BODY


class Server:
    """A TCP server with a behaviour: http, silent, garbage, close, endless, endless-http, agent:<reply>."""

    def __init__(self, behaviour, host="127.0.0.1", port=0):
        self.behaviour = behaviour
        self.host = host
        self.port = port
        self.sock = None
        self.thread = None
        self.stopping = threading.Event()
        self.conns = []

    def start(self):
        self.stopping.clear()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(128)
        s.settimeout(0.1)
        self.port = s.getsockname()[1]
        self.sock = s
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self.thread:
            self.thread.join(timeout=5)
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.conns = []

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        b = self.behaviour
        conn.settimeout(0.5)
        try:
            if b == "close":
                conn.close()
                return
            if b == "silent":
                self.conns.append(conn)  # held open until stop
                return
            if b.startswith("agent:"):
                conn.sendall(b[6:].encode() + b"\n")
                conn.close()
                return
            if b in ("endless", "endless-http"):
                chunk = b"z" * 65536
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Endless: " if b == "endless-http" else b"500 ")
                deadline = time.monotonic() + 30
                while not self.stopping.is_set() and time.monotonic() < deadline:
                    conn.sendall(chunk)  # raises once the client has gone
                return
            # http and garbage answer after the request arrives.
            try:
                conn.recv(4096)
            except socket.timeout:
                pass
            conn.sendall(HTTP_OK if b == "http" else b"\x00\x01SSH-2.0-not-http\r\n\xff\xfe")
            conn.close()
        except OSError:
            pass
        finally:
            if conn not in self.conns:
                try:
                    conn.close()
                except OSError:
                    pass


def config_yaml(services):
    """A valid config whose virtual servers are (name, port, health_check dict, [(address, port, weight)])."""
    lines = [
        "serial: 1",
        "nodes:",
        "  - name: a",
        "    addresses: [10.0.0.1]",
        "  - name: b",
        "    addresses: [10.0.0.2]",
        "heartbeat:",
        "  interval: 100ms",
        "  auth: none",
        "virtual_ips:",
        "  - address: 10.0.0.10/24",
        "    interface: eth0",
        "virtual_servers:",
    ]
    for name, vport, check, reals in services:
        lines += [f"  - name: {name}", "    address: 10.0.0.10", f"    port: {vport}", "    forwarding: nat",
                  "    health_check:"]
        lines += [f"      {k}: {v}" for k, v in check.items()]
        lines.append("    real_servers:")
        lines += [f"      - {{address: {a}, port: {p}, weight: {w}}}" for a, p, w in reals]
    return "\n".join(lines) + "\n"


class TLSServer(Server):
    """An HTTPS server with a self-signed certificate for `name`; records the SNI each client sent."""

    def __init__(self, certfile, keyfile):
        super().__init__("http")
        import ssl
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.sni = []
        self.ctx.sni_callback = lambda sock, name, ctx: self.sni.append(name)

    def _serve(self, conn):
        try:
            conn.settimeout(1)
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except OSError:
            conn.close()
            return
        super()._serve(tls)
