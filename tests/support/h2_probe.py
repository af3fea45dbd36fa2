#!/usr/bin/env python3
"""HTTP/2 abuse probes for tests/hostile.rs: a real HTTP/2 client (the `h2` package) over TLS
with ALPN h2, speaking to the gateway on 127.0.0.1. Prints one line of `key=value` results.

  h2_probe.py PORT HOST settings            the server's SETTINGS
  h2_probe.py PORT HOST rapid-reset N       N streams opened and cancelled at once
  h2_probe.py PORT HOST continuation KIB    one header block sent as CONTINUATION frames of
                                            1 KiB each, KIB of them, never ended
  h2_probe.py PORT HOST get                 one ordinary GET /public

Every probe is bounded: at most 10 s of reading, and stops at GOAWAY or end of stream.
"""
import socket
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def connect(port, host):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = ctx.wrap_socket(raw, server_hostname=host)
    assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def headers(host, path="/public"):
    return [(":method", "GET"), (":scheme", "https"), (":authority", host), (":path", path)]


def read_events(sock, conn, until, seconds=10.0):
    """Feeds received bytes to `conn` until `until(event)` is true for some event, the peer
    closes, or `seconds` pass. Returns (matching event or None, closed, events seen)."""
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, ssl.SSLError, OSError):
            return None, True, seen
        if not data:
            return None, True, seen
        try:
            events = conn.receive_data(data)
        except Exception as e:  # a protocol error on our side ends the probe
            return None, True, seen + [e]
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except OSError:
                return None, True, seen
        for event in events:
            seen.append(event)
            if until(event):
                return event, False, seen
    return None, False, seen


def settings(port, host):
    sock, conn = connect(port, host)
    event, _, _ = read_events(sock, conn, lambda e: isinstance(e, h2.events.RemoteSettingsChanged))
    s = event.changed_settings if event else {}
    value = lambda code: s[code].new_value if code in s else "unset"
    print(f"max_concurrent_streams={value(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)} "
          f"max_header_list_size={value(h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE)}")


def get(port, host):
    sock, conn = connect(port, host)
    conn.send_headers(1, headers(host), end_stream=True)
    sock.sendall(conn.data_to_send())
    event, closed, _ = read_events(sock, conn, lambda e: isinstance(e, h2.events.ResponseReceived))
    status = dict(event.headers).get(b":status", b"none").decode() if event else "none"
    print(f"status={status} closed={str(closed).lower()}")


def rapid_reset(port, host, count):
    sock, conn = connect(port, host)
    read_events(sock, conn, lambda e: isinstance(e, h2.events.RemoteSettingsChanged), 5)
    sent = 0
    closed = False
    for i in range(count):
        stream = 1 + 2 * i
        try:
            conn.send_headers(stream, headers(host), end_stream=True)
            conn.reset_stream(stream)
            sock.sendall(conn.data_to_send())
            sent += 1
        except Exception:
            closed = True
            break
    event, closed_now, _ = read_events(sock, conn, lambda e: isinstance(e, h2.events.ConnectionTerminated))
    code = int(event.error_code) if event else "none"
    print(f"sent={sent} goaway={code} closed={str(closed or closed_now).lower()}")


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def continuation(port, host, kib):
    sock, conn = connect(port, host)
    read_events(sock, conn, lambda e: isinstance(e, h2.events.RemoteSettingsChanged), 5)
    # HEADERS without END_HEADERS: the pseudo-headers, HPACK literal without indexing.
    def integer(n):  # HPACK 7-bit prefix integer, H (Huffman) bit clear
        if n < 127:
            return bytes([n])
        out, n = [0x7f], n - 127
        while n >= 128:
            out.append(n % 128 | 0x80)
            n //= 128
        return bytes(out + [n])

    def literal(name, value):  # literal header field without indexing, new name
        return b"\x00" + integer(len(name)) + name + integer(len(value)) + value
    block = b"".join(literal(n.encode(), v.encode()) for n, v in headers(host))
    sock.sendall(frame(0x1, 0x0, 1, block))
    filler = literal(b"x-flood", b"f" * 1000)
    sent = 0
    closed = False
    for _ in range(kib):
        try:
            sock.sendall(frame(0x9, 0x0, 1, filler))
            sent += 1
        except OSError:
            closed = True
            break
    # Whatever the server said: a GOAWAY, a reset, or the end of the stream.
    event, closed_now, seen = read_events(
        sock, conn, lambda e: isinstance(e, (h2.events.ConnectionTerminated, h2.events.StreamReset)))
    kind = type(event).__name__ if event else ("closed" if closed or closed_now else "nothing")
    print(f"sent_kib={sent} answer={kind} closed={str(closed or closed_now).lower()}")


def main():
    port, host, probe = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if probe == "settings":
        settings(port, host)
    elif probe == "get":
        get(port, host)
    elif probe == "rapid-reset":
        rapid_reset(port, host, int(sys.argv[4]))
    elif probe == "continuation":
        continuation(port, host, int(sys.argv[4]))
    else:
        sys.exit(f"unknown probe {probe}")


if __name__ == "__main__":
    main()
