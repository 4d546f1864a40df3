#!/usr/bin/env python3
"""Writes the hand-made seed inputs of tests/fuzz/corpus/<target>/ (seed-*): real messages of
docs/protocol.md, real and hostile request paths, Host/Origin pairs, tokens. Inputs that libFuzzer
found and `-merge=1` kept sit beside them under their SHA-1 names; this script leaves those alone.

    tests/fuzz/make-seeds.py [tests/fuzz/corpus]
"""
import base64
import hashlib
import hmac
import json
import os
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"

protocol = [
    {"type": "join", "version": 1, "room": "demo", "role": "viewer", "name": "Ann"},
    {"type": "join", "version": 1, "room": "standup", "role": "member", "name": "Bo \u00e9\u4e2d"},
    {"type": "join", "version": 1, "room": "stage", "role": "host",
     "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb29tIjoic3RhZ2UiLCJyb2xlIjoiaG9zdCIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDQzMjAwfQ.x"},
    {"type": "leave"},
    {"type": "ping"},
    {"type": "pong"},
    {"type": "offer", "to": "p5c1e09a2", "sdp": SDP},
    {"type": "answer", "from": "p0b7d3f10", "sdp": SDP},
    {"type": "ice", "to": "p0b7d3f10",
     "candidate": "candidate:1 1 UDP 2122252543 192.0.2.7 50102 typ host", "sdpMLineIndex": 0, "sdpMid": "0"},
    {"type": "ice", "from": "pV1", "candidate": "", "sdpMLineIndex": 1023},
    {"type": "bye", "to": "p5c1e09a2", "reason": "max-peers", "message": "serving 50 viewers at most"},
    {"type": "bye", "from": "p0b7d3f10", "reason": "closed"},
    {"type": "welcome", "version": 1, "id": "p5c1e09a2", "room": "demo", "kind": "live", "role": "viewer",
     "ping_interval": 10, "max_message_size": 65536,
     "peers": [{"id": "p0b7d3f10", "role": "host", "name": "Stage"}],
     "ice_servers": [{"urls": ["stun:192.0.2.1:3478"]},
                     {"urls": ["turn:192.0.2.1:3478", "turn:192.0.2.1:3478?transport=tcp", "turns:[2001:db8::1]:5349"],
                      "username": "1767312000:p5c1e09a2", "credential": "/C0PCtodDocnDywFyuXUF/CRu9Y="}]},
    {"type": "welcome", "version": 1, "id": "pA", "room": "standup", "kind": "meeting", "role": "member",
     "peers": []},
    {"type": "peer-joined", "peer": {"id": "p5c1e09a2", "role": "viewer", "name": "Ann"}},
    {"type": "peer-left", "id": "p5c1e09a2"},
    {"type": "error", "code": "forbidden", "message": "viewers may only signal with the host", "ref": "offer"},
    {"type": "error", "code": "host-taken", "message": "room 'demo' already has a host"},
    {"type": "prefer", "to": "p0b7d3f10", "layer": 2},
    {"type": "prefer", "from": "p5c1e09a2", "maxHeight": 180},
]
protocol_raw = [
    b'{"type":"join","version":2,"room":"demo","role":"viewer"}',
    b'{"type":"join","version":1,"room":"a\\u0000b","role":"viewer"}',
    b'{"type":"join","version":1,"room":"demo","role":"viewer","name":"\\ud800"}',
    # what the fuzzer found: unpaired surrogates that json-glib turns into bytes that are not UTF-8
    b'{"type":"offer","to":"p1","sdp":"v=0 \\ud800x"}',
    b'{"type":"error","bode":"forbidden","messafe":"\\u002f\\ud83dturn:0"",ref":"offer"}',
    b'{"type":"' + b"a" * 63 + b'\xc3\xa9"}',
    b'{"type":"error","code":"forbidden","message":"\\u001f\\ud83d\\ude00","ref":"offer"}',
    b'{"type":"offer","sdp":"v=0"}',
    b'{"type":"nope"}',
    b'[1,2,3]',
    b'{"type":"ice","to":"p1","candidate":"c","sdpMLineIndex":1e3}',
    b'{"type":"welcome","version":1,"id":"p1","room":"r","kind":"live","role":"host","peers":[],"max_message_size":9223372036854775807}',
    b'\xff\xfe{"type":"ping"}',
]

web_path = [
    "/", "/room/demo", "/room/", "/healthz", "/metrics", "/index.js", "/style.css", "/favicon.svg",
    "/protocol.js", "/img/logo.png", "/room", "/healthz/", "/index.html", "/room.html",
    "/..", "/../etc/passwd", "/a/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E%2Fetc",
    "/..%2f..%2fetc/passwd", "/.git/config", "/a/.git/config", "/./index.html", "/a/./b",
    "//etc/passwd", "/a//b", "*", "", "/a\\..\\b", "/a/\0/b", "/room/../../etc/passwd",
    "http://example.org/index.html", "/\u00e9t\u00e9.html", "/a/b/c/d/e/f/g/h/index.html",
    # what the fuzzer found: hidden and "." components below the first, a first character dropped
    "/img/.secret", "[room.html",
]

web_headers = [
    "127.0.0.1:8443", "[::1]:8443\nhttp://[::1]:8443", "localhost:8443\nhttp://localhost:8443",
    "roomcast.example\nhttps://app.example", "ROOMCAST.example:443\nhttps://roomcast.example:443/",
    "vm.local.\nhttp://vm.local.", "evil.example\nhttps://evil.example", "app.localhost\nnull",
    "10.0.0.5:8443\nhttp://10.0.0.5:8443", "[fe80::1%eth0]:8443", "[::ffff:127.0.0.1]",
    "example.org:0", "example.org:99999", "ex ample\nfile://", "\nchrome-extension://abc",
    "roomcast.example\nHTTP://ROOMCAST.EXAMPLE:80", "a;b\nhttp://a;b", "[::1]x",
    "192.0.2.7\nhttps://192.0.2.7:443///",
    # what the fuzzer found: a NUL inside an IPv6 literal, a name of dots
    "[::f\0\0\0fff:127.0.0.1]", "..",
]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def sign(header, claims, secret=b"0123456789abcdef-fuzz"):
    part = b64(header) + b"." + b64(claims)
    return part + b"." + b64(hmac.new(secret, part, hashlib.sha256).digest())


HEADER = b'{"alg":"HS256","typ":"JWT"}'
CLAIMS = b'{"room":"demo","role":"host","iat":1700000000,"exp":1700003600}'
token = [
    b"\x00" + sign(HEADER, CLAIMS),
    b"\x00" + sign(HEADER, CLAIMS, b"wrong-secret-0123456"),
    b"\x00" + sign(b'{"alg":"none"}', CLAIMS),
    b"\x00a.b.c", b"\x00...", b"\x00eyJ.eyJ.", b"\x0090s", b"\x007d", b"\x0012h",
    b"\x01" + CLAIMS,
    b'\x01{"room":"demo","role":"viewer","exp":1700000000,"nbf":1700000100}',
    b'\x01{"room":"demo","role":"host","exp":9223372036854775807}',
    b'\x01{"room":"demo","role":"host","exp":-9223372036854775808}',
    b'\x01{"room":"other","role":"host","exp":1700003600}',
    b'\x01{"room":"demo","role":"host","exp":"soon"}',
    b"\x02" + HEADER, b'\x02{"alg":"HS512"}', b'\x02{"alg":"HS256","kid":"x"}', b"\x02[]",
]


def write(target, inputs):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(inputs):
        if isinstance(data, dict):
            data = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            f.write(data)


write("protocol", protocol + protocol_raw)
write("web-path", web_path)
write("web-headers", web_headers)
write("token", token)
