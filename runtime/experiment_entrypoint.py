"""Start an experiment inside its container: the hardware forwarder first, then the user's script.

The container has no network (``--network none``). The node serves this experiment's hardware API on a Unix
socket mounted at ``/run/bioreactor``; this process listens on ``localhost:9000`` and relays every connection to
that socket byte for byte, so ``BIOREACTOR_NODE_API_URL=http://localhost:9000`` works for ``bioreactor_client``,
``requests`` and ``urllib`` alike (keep-alive and Server-Sent Events included).

It is PID 1: it forwards SIGTERM/SIGINT to the script, reaps orphaned children and exits with the script's code
(128 + N when the script died of signal N), so the node sees the same exit code as a plain ``python`` run.
Standard library only.
"""

import os
import signal
import socket
import subprocess
import sys
import threading

DEFAULT_SOCKET = "/run/bioreactor/hardware.sock"
DEFAULT_SCRIPT = "/app/user_script.py"
LISTEN_PORT = 9000
CHUNK = 65536


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Half-close so the other side sees the end of this direction but can still answer.
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def _relay(client: socket.socket, socket_path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(socket_path)
    except OSError as err:
        body = (
            '{"statusCode":503,"code":"COMPONENT_UNAVAILABLE","error":"Service Unavailable",'
            '"message":"The node\'s hardware API is closed for this experiment: %s"}' % str(err).replace('"', "'")
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        ).encode()
        try:
            client.sendall(head + body)
        except OSError:
            pass
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _serve(listener: socket.socket, socket_path: str) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_relay, args=(client, socket_path), daemon=True).start()


def start_forwarder(socket_path: str, port: int = LISTEN_PORT) -> "list[socket.socket]":
    """Binds localhost:port (IPv4, and IPv6 when the kernel has it) before the script starts."""
    listeners = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(64)
        except OSError:
            if family == socket.AF_INET:
                raise
            continue
        listeners.append(sock)
        threading.Thread(target=_serve, args=(sock, socket_path), daemon=True).start()
    return listeners


def run_script(argv: "list[str]") -> int:
    child = subprocess.Popen(argv)

    def forward(signum: int, _frame: object) -> None:
        try:
            child.send_signal(signum)
        except OSError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    # As PID 1 we inherit every orphan: reap them all until the script itself has ended.
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
            child.returncode = code
            return 128 - code if code < 0 else code


def main() -> int:
    socket_path = os.environ.get("BIOREACTOR_HARDWARE_SOCKET", DEFAULT_SOCKET)
    script = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SCRIPT
    try:
        start_forwarder(socket_path)
    except OSError as err:
        print("bioreactor: cannot listen on localhost:%d for the hardware API: %s" % (LISTEN_PORT, err), file=sys.stderr)
        return 70
    workdir = os.environ.get("OUTPUT_DIR")
    if workdir and os.path.isdir(workdir):
        os.chdir(workdir)
    # A run on the twin at accelerated time: the client's module scales the script's clock and sleeps.
    if os.environ.get("BIOREACTOR_TIME_SCALE"):
        return run_script([sys.executable, "-u", "-m", "bioreactor_client.accelerated", script])
    return run_script([sys.executable, "-u", script])


if __name__ == "__main__":
    sys.exit(main())
