"""A WebSocket client on a plain socket (RFC 6455, stdlib only), for clients that misbehave on
purpose: a viewer that joins and never answers its offer, and so on. Text frames of JSON, the
roomcast protocol's only kind; the server's protocol pings are answered so it keeps the client."""
import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawWs:
    def __init__(self, host, port, path="/ws", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise AssertionError("the server closed during the handshake: %r" % self.buf)
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            raise AssertionError("no WebSocket: %s" % lines[0])
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        if headers.get("sec-websocket-accept") != accept:
            raise AssertionError("bad Sec-WebSocket-Accept: %r" % headers)
        self.closed = False
        self.received = []  # every message, in order

    def _frame(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def send(self, message):
        self._frame(0x1, json.dumps(message).encode())

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            d = self.sock.recv(65536)
            if not d:
                self.closed = True
                raise ConnectionError("closed by the server")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout):
        """The next JSON message (protocol pings are answered and returned too), or None at the
        timeout or when the server closed the connection."""
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while True:
                b0, b1 = self._read(2, deadline)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._read(2, deadline))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(8, deadline))[0]
                payload = self._read(n, deadline)  # the server does not mask
                opcode = b0 & 0x0F
                if opcode == 0x8:
                    self.closed = True
                    return None
                if opcode == 0x9:
                    self._frame(0xA, payload)
                    continue
                if opcode in (0x1, 0x0):
                    data += payload
                    if b0 & 0x80:
                        m = json.loads(data.decode())
                        self.received.append(m)
                        if m.get("type") == "ping":
                            self.send({"type": "pong"})
                        return m
        except (socket.timeout, ConnectionError, OSError):
            return None

    def expect(self, pred, timeout, what):
        """Messages until one for which pred(m) holds (returned); fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError("no %s within %.0f s; got %s" % (what, timeout, self.received))
            m = self.recv(left)
            if m is not None and pred(m):
                return m

    def join(self, room, role, **extra):
        self.send(dict({"type": "join", "version": 1, "room": room, "role": role}, **extra))
        return self.expect(lambda m: m.get("type") in ("welcome", "error"), 10, "welcome")

    def close(self):
        try:
            self._frame(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()
