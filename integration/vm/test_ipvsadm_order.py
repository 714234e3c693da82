"""ipvsadm's exact text, byte for byte, on random tables (issue 13, kind 2).

ipvsadm sorts with comparators that subtract 32-bit values into a signed int, so addresses (and
fwmarks) more than 2^31 apart sort "backwards", and over the whole 32-bit circle the relation is
a cycle whose outcome depends on the kernel's dump order (Sources/TandemCore/IPVS/IPVSAdmOrder.swift).
These tests draw addresses over the whole space on purpose.

- `tandemctl ipvs show` reads the kernel's dump order, so it must equal `ipvsadm -Ln` always.
- `tandemctl show-config` computes the table from a config, so it must equal `ipvsadm -S -n`
  after `tandemctl ipvs apply` whenever ipvsadm's relation orders the services (the services'
  dump order is a kernel hash with a pointer in it); real servers always.
Each test prints its random seed; TANDEM_ORDER_SEED=N replays one. Each run draws
TANDEM_ORDER_ROUNDS tables per test (6: about a minute each under emulation, so CI's budget
holds; every run draws new ones); TANDEM_ORDER_ROUNDS=100 integration/vm/run-tests -k random
for a long run.
"""
import ipaddress
import os
import random
import tempfile

from vmlib import TANDEMCTL, ipvsadm_save, run, tandemctl

ROUNDS = int(os.environ.get("TANDEM_ORDER_ROUNDS", "6"))


def wrap(d):
    """ipvsadm's `int r = a - b` for two u32 values."""
    d &= 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


def words(addr):
    packed = addr.packed + bytes(16 - len(addr.packed))
    return [int.from_bytes(packed[i:i + 4], "big") for i in range(0, 16, 4)]


def cmp_addr(a, b):
    x, y = words(a), words(b)
    if a.version == 4:
        return wrap(x[0] - y[0])
    for i in range(4):
        r = wrap(x[i] - y[i])
        if r:
            return r
    return 0


def cmp_service(a, b):
    """libipvs.c ipvs_cmp_services on the generator's service tuples."""
    r = wrap(a["mark"] - b["mark"])
    if not r:
        r = a["af"] - b["af"]
    if not r:
        r = a["proto"] - b["proto"]
    if not r:
        r = cmp_addr(a["addr"], b["addr"])
    if not r:
        r = a["port"] - b["port"]
    return r


def is_order(items, cmp):
    """True when cmp is a strict total order on items (no cycles): then any sort gives one result."""
    return all(not (cmp(a, b) < 0 and cmp(b, c) < 0 and cmp(a, c) > 0)
               for a in items for b in items for c in items)


def random_unicast(rng, version):
    while True:
        if version == 4:
            a = ipaddress.IPv4Address(rng.getrandbits(32))
            if not (a.is_multicast or a.is_loopback or a.is_reserved or a.is_unspecified
                    or a.is_link_local or int(a) >> 24 == 0 or a == ipaddress.IPv4Address("255.255.255.255")):
                return a
        else:
            a = ipaddress.IPv6Address(rng.getrandbits(128))
            if a.is_global or a.is_private:
                if not (a.is_multicast or a.is_link_local or a.is_loopback or a.is_unspecified or a.ipv4_mapped
                        or a.is_site_local or a.is_reserved):
                    return a


def random_table(rng, max_mark=(1 << 31) - 1):
    services, used = [], set()
    for i in range(rng.randint(1, 6)):
        kind = rng.choice(["tcp4", "udp4", "tcp6", "fwm4", "fwm6"])
        version = 6 if kind.endswith("6") else 4
        if kind.startswith("fwm"):
            svc = {"mark": rng.randint(1, max_mark), "af": 10 if version == 6 else 2, "proto": 0,
                   "addr": ipaddress.ip_address("::" if version == 6 else "0.0.0.0"), "port": 0, "version": version}
            key = ("fwm", svc["mark"], version)
        else:
            svc = {"mark": 0, "af": 10 if version == 6 else 2, "proto": 6 if kind.startswith("tcp") else 17,
                   "addr": random_unicast(rng, version), "port": rng.choice([53, 80, 443, 8080]), "version": version}
            key = (kind, svc["addr"], svc["port"])
        if key in used:
            continue
        used.add(key)
        dests, seen = [], set()
        for _ in range(rng.randint(0, 6)):
            d = (random_unicast(rng, version), rng.choice([80, 81, 8080]))
            if d not in seen:
                seen.add(d)
                dests.append({"addr": d[0], "port": d[1], "weight": rng.randint(0, 100)})
        svc.update(name=f"s{i}", sched=rng.choice(["rr", "wlc"]), dests=dests)
        services.append(svc)
    return services


def hostport(addr, port):
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


def switch(s):
    if s["mark"]:
        return f"-f {s['mark']}" + (" -6" if s["version"] == 6 else "")
    return ("-t " if s["proto"] == 6 else "-u ") + hostport(s["addr"], s["port"])


def restore_rules(services, rng):
    lines = []
    for s in rng.sample(services, len(services)):
        lines.append(f"-A {switch(s)} -s {s['sched']}")
        for d in rng.sample(s["dests"], len(s["dests"])):
            lines.append(f"-a {switch(s)} -r {hostport(d['addr'], d['port'])} -m -w {d['weight']}")
    return "\n".join(lines) + "\n"


def config_text(services):
    vips = sorted({(str(s["addr"]), s["version"]) for s in services if not s["mark"]})
    out = ["serial: 1", "nodes:", "  - {name: a, addresses: [198.18.0.1]}", "  - {name: b, addresses: [198.18.0.2]}",
           "heartbeat: {auth: none, interval: 1s}", "virtual_ips:"]
    out += [f"  - {{address: \"{a}/{32 if v == 4 else 128}\", interface: eth0}}" for a, v in vips]
    if not vips:
        out.append("  - {address: 198.18.0.10/24, interface: eth0}")
    out.append("virtual_servers:")
    for s in services:
        out.append(f"  - name: {s['name']}")
        if s["mark"]:
            out.append(f"    fwmark: {s['mark']}")
            out.append(f"    family: ipv{s['version']}")
        else:
            out += [f"    address: \"{s['addr']}\"", f"    port: {s['port']}",
                    f"    protocol: {'tcp' if s['proto'] == 6 else 'udp'}"]
        out += [f"    scheduler: {s['sched']}", "    forwarding: nat", "    real_servers:" if s["dests"] else "    real_servers: []"]
        out += [f"      - {{address: \"{d['addr']}\", port: {d['port']}, weight: {d['weight']}}}" for d in s["dests"]]
    return "\n".join(out) + "\n"


def blocks(save_text):
    """`-A` lines with their `-a` lines, as {service line: [real server lines in order]}."""
    out, current = {}, None
    for line in save_text.splitlines():
        if line.startswith("-A "):
            current = line
            out[current] = []
        else:
            out[current].append(line)
    return out


def seeds():
    if os.environ.get("TANDEM_ORDER_SEED"):
        return [int(os.environ["TANDEM_ORDER_SEED"])]
    base = random.SystemRandom().randrange(1 << 30)
    return [base + i for i in range(ROUNDS)]


def test_ipvs_show_equals_ipvsadm_listing_on_random_tables():
    cycles = 0
    for seed in seeds():
        rng = random.Random(seed)
        services = random_table(rng)
        run("ipvsadm", "-C", check=True)
        run("ipvsadm", "-R", input=restore_rules(services, rng), check=True)
        cycles += not is_order(services, cmp_service)
        for ours, theirs in ((["ipvs", "show"], ["-Ln"]), (["ipvs", "show", "--stats", "--exact"], ["-Ln", "--stats", "--exact"])):
            mine = tandemctl(*ours, check=True).stdout
            real = run("ipvsadm", *theirs, check=True).stdout
            assert mine == real, f"seed {seed}: {ours} differs from ipvsadm {theirs}\n--- ours\n{mine}--- ipvsadm\n{real}"
    print(f"{ROUNDS} tables, {cycles} with services ipvsadm's relation does not order")


def test_show_config_equals_ipvsadm_save_after_apply_on_random_tables():
    exact = 0
    for seed in seeds():
        rng = random.Random(seed)
        services = random_table(rng)
        run("ipvsadm", "-C", check=True)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(config_text(services))
        applied = tandemctl("ipvs", "apply", f.name)
        assert applied.returncode == 0, f"seed {seed}: {applied.stdout}{applied.stderr}\n{config_text(services)}"
        ours = tandemctl("show-config", f.name, "--format", "ipvsadm", check=True).stdout
        real = ipvsadm_save()
        if is_order(services, cmp_service):
            exact += 1
            assert ours == real, f"seed {seed}\n--- show-config\n{ours}--- ipvsadm -S -n\n{real}"
            # The README's round trip: feed show-config to ipvsadm -R and diff, when every list
            # is ordered by ipvsadm's relation (otherwise ipvsadm's result depends on -R's order).
            if all(is_order([(d["addr"], d["port"]) for d in s["dests"]],
                            lambda x, y: cmp_addr(x[0], y[0]) or x[1] - y[1]) for s in services):
                run("ipvsadm", "-C", check=True)
                run("ipvsadm", "-R", input=ours, check=True)
                assert ipvsadm_save() == ours, f"seed {seed}: round trip"
        else:
            # Services in the kernel's hash order: the same blocks, each with its real servers in
            # exactly ipvsadm's order.
            assert blocks(ours) == blocks(real), f"seed {seed}\n--- show-config\n{ours}--- ipvsadm -S -n\n{real}"
        os.unlink(f.name)
    assert exact > 0, "no random table was ordered: raise TANDEM_ORDER_ROUNDS"


def test_fwmarks_above_2_31_print_unsigned():
    """Debian's ipvsadm 1.31 prints these marks negative (and then refuses its own -R text);
    Tandem prints them unsigned, as ipvsadm does since upstream commit e61c8cd."""
    run("ipvsadm", "-A", "-f", "3000000000", "-s", "rr", check=True)
    run("ipvsadm", "-A", "-f", "7", "-s", "rr", check=True)
    real = run("ipvsadm", "-Ln", check=True).stdout
    mine = tandemctl("ipvs", "show", check=True).stdout
    assert "FWM  -1294967296 rr" in real
    assert mine == real.replace("FWM  -1294967296 rr", "FWM  3000000000 rr")
    refused = run("ipvsadm", "-A", "-f", "-1294967296", "-s", "rr")
    assert refused.returncode != 0
