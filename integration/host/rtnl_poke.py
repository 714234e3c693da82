#!/usr/bin/env python3
"""Makes one rtnetlink change per stdin line, printing CLOCK_REALTIME ns taken just before the
request is sent, then the kernel's answer. Run inside a namespace (`ip netns exec`), so a test can
time "change made" → "change reported" without counting process start-up.

    del ADDRESS/PLEN IFNAME     RTM_DELADDR
    down IFNAME | up IFNAME     RTM_NEWLINK changing IFF_UP
Output per line: "<t0_ns> <errno>" (errno 0 on success).
"""
import ipaddress
import socket
import struct
import sys
import time

RTM_NEWLINK, RTM_DELADDR = 16, 21
NLM_F_REQUEST, NLM_F_ACK = 1, 4
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFF_UP = 1


def attr(kind, data):
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * ((4 - length % 4) % 4)


def main():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    sock.bind((0, 0))
    seq = 0
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        seq += 1
        if words[0] == "del":
            iface = ipaddress.ip_interface(words[1])
            family = socket.AF_INET if iface.version == 4 else socket.AF_INET6
            index = socket.if_nametoindex(words[2])
            body = struct.pack("=BBBBI", family, iface.network.prefixlen, 0, 0, index)
            body += attr(IFA_LOCAL, iface.ip.packed) + attr(IFA_ADDRESS, iface.ip.packed)
            kind = RTM_DELADDR
        elif words[0] in ("down", "up"):
            index = socket.if_nametoindex(words[1])
            body = struct.pack("=BBHiII", socket.AF_UNSPEC, 0, 0, index, IFF_UP if words[0] == "up" else 0, IFF_UP)
            kind = RTM_NEWLINK
        else:
            print(f"0 {22}", flush=True)
            continue
        message = struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK, seq, 0) + body
        t0 = time.time_ns()
        sock.send(message)
        reply = sock.recv(65536)
        error = -struct.unpack("=i", reply[16:20])[0] if struct.unpack("=H", reply[4:6])[0] == 2 else 0
        print(f"{t0} {error}", flush=True)


if __name__ == "__main__":
    main()
