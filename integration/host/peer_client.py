#!/usr/bin/env python3
"""An independent implementation of the client side of Tandem's peer channel (config replication),
written from the protocol description in Sources/TandemCore/Replication/PeerHandshake.swift, for
tests: connects, does the handshake with the given key, asks for the config and prints one JSON
line: {"server_proof_ok": bool, "verdict": "accepted"|"refused"|"closed", "reason": ..., "response": ...}.
Like an attacker without the key, it sends a proof even when the server's proof did not verify.

    peer_client.py HOST PORT KEY_FILE CLIENT_NAME SERVER_NAME
"""
import hashlib
import hmac
import json
import os
import socket
import sys


def h(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def send(s, payload):
    s.sendall(len(payload).to_bytes(4, "big") + payload)


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def recv(s):
    return recv_exact(s, int.from_bytes(recv_exact(s, 4), "big"))


def main(host, port, key_file, name, peer):
    key = open(key_file, "rb").read()
    if key.endswith(b"\n"):
        key = key[:-1]
    name, peer = name.encode(), peer.encode()
    s = socket.create_connection((host, int(port)), timeout=5)
    nonce = os.urandom(32)
    send(s, b"TDMR\x01\x01" + nonce + bytes([len(name)]) + name)
    challenge = recv(s)
    assert challenge[:6] == b"TDMR\x01\x02", challenge[:6]
    server_nonce, server_proof = challenge[6:38], challenge[38:70]
    server_name = challenge[71:71 + challenge[70]]
    t = b"tandem-peer-v1" + bytes([len(name)]) + name + bytes([len(server_name)]) + server_name + nonce + server_nonce
    result = {"server_proof_ok": hmac.compare_digest(server_proof, h(key, b"server-proof" + t)),
              "server_name": server_name.decode()}
    send(s, b"TDMR\x01\x03" + h(key, b"client-proof" + t))
    try:
        verdict = recv(s)
    except EOFError:
        result["verdict"] = "closed"
        return result
    if verdict[6] != 0:
        result.update(verdict="refused", reason=verdict[7:].decode())
        return result
    result["verdict"] = "accepted"
    session = h(key, b"session" + t)
    body = b'{"fetchConfig":{}}'
    send(s, body + h(session, b"C" + (0).to_bytes(8, "big") + body))
    answer = recv(s)
    body, tag = answer[:-32], answer[-32:]
    result["response_tag_ok"] = hmac.compare_digest(tag, h(session, b"S" + (0).to_bytes(8, "big") + body))
    result["response"] = json.loads(body)
    return result


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:6])))
