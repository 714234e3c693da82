"""A `Pair` whose two routers each have their own config file, as real routers do.

`ReplicaPair(topo)` writes dir/ra.yaml and dir/rb.yaml (same text at first) and starts
`tandemd --config dir/rX.yaml --node rX`. Helpers: the digest `tandemd --check` reports for a
node's file, and whether a node's eth0 holds an address (`ip -j addr`).
"""
import re
import subprocess

from failover_pair import NODES, TANDEMD, Pair


class ReplicaPair(Pair):
    def __init__(self, topo, texts=None, **kw):
        """`texts(pair)` may return {node: config text} for nodes whose file starts different."""
        super().__init__(topo, **kw)
        self.configs = {n: self.dir / f"{NODES[n]}.yaml" for n in NODES}
        first = texts(self) if texts else {}
        for n, path in self.configs.items():
            path.write_text(first.get(n) or self.config.read_text())

    def start(self, node):
        log = open(self.logs[node], "ab")
        p = self.topo.popen(node, TANDEMD, "--config", str(self.configs[node]), "--node", NODES[node],
                            "--control-socket", self.socket(node), "--state-directory", f"{self.dir}/state-{node}",
                            stdout=log, stderr=log)
        log.close()
        self.procs[node] = p
        return p

    def text(self, node):
        return self.configs[node].read_text()

    def digest(self, node):
        """The digest `tandemd --check` prints for the node's config file (an independent reading)."""
        r = subprocess.run([TANDEMD, "--check", "--config", str(self.configs[node]), "--node", NODES[node]],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"tandemd --check {self.configs[node]}: {r.stdout}{r.stderr}"
        return re.search(r"digest ([0-9a-f]{64})", r.stdout).group(1)

    def has_address(self, node, address):
        info = self.topo.ip_json(node, "addr", "show", "dev", "eth0")
        return any(a.get("local") == address for a in info[0]["addr_info"])
