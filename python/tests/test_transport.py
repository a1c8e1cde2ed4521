"""How the client behaves when the network misbehaves: nothing listening, no reply, a dropped connection."""

from __future__ import annotations

import socket
import threading
import time
import unittest
from typing import List

from bioreactor_client import (
    Bioreactor,
    BioreactorClient,
    BioreactorConnectionError,
    BioreactorError,
    BioreactorTimeoutError,
)
from tests.node_process import free_port


class LoopbackServer:
    """A raw TCP listener whose behaviour per connection the test decides."""

    def __init__(self, behaviours: List[str]) -> None:
        self.behaviours = behaviours
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            behaviour = self.behaviours[min(self.connections, len(self.behaviours) - 1)]
            self.connections += 1
            conn.recv(65536)
            if behaviour == "close":
                conn.close()
            elif behaviour == "silent":
                threading.Thread(target=self._hold, args=(conn,), daemon=True).start()
            else:
                body = b'{"co2_sensor":{"type":"sensor"}}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                conn.close()

    def _hold(self, conn: socket.socket) -> None:
        self.release.wait(30)
        conn.close()

    def close(self) -> None:
        self.release.set()
        self.sock.close()


class TransportTest(unittest.TestCase):
    def test_nothing_listening_is_a_connection_error_naming_the_url_and_the_fix(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        with self.assertRaises(BioreactorConnectionError) as caught:
            Bioreactor(url, retries=1, timeout=2)
        message = str(caught.exception)
        self.assertIn(url, message)
        self.assertIn("connection refused", message)
        self.assertIn("BIOREACTOR_NODE_API_URL", message)
        self.assertIn("after 2 attempts", message)
        self.assertIsInstance(caught.exception, ConnectionError, "scripts catching ConnectionError still work")
        self.assertIsInstance(caught.exception, RuntimeError)
        self.assertIsNone(caught.exception.__cause__, "no urllib traceback chained under the message")
        self.assertTrue(caught.exception.__suppress_context__)

    def test_a_node_that_never_answers_times_out_after_the_timeout(self) -> None:
        server = LoopbackServer(["silent"])
        self.addCleanup(server.close)
        client = BioreactorClient(server.url, timeout=0.3, retries=1, retry_delay=0.01)
        started = time.monotonic()
        with self.assertRaises(BioreactorTimeoutError) as caught:
            client.get_capabilities()
        waited = time.monotonic() - started
        self.assertIn("did not answer GET /api/v3/capabilities within 0.3 s after 2 attempts", str(caught.exception))
        self.assertEqual(server.connections, 2)
        self.assertLess(waited, 5, "two 0.3 s attempts, not an unbounded wait")
        self.assertIsInstance(caught.exception, BioreactorConnectionError)

    def test_a_dropped_connection_is_retried_and_the_second_attempt_succeeds(self) -> None:
        server = LoopbackServer(["close", "ok"])
        self.addCleanup(server.close)
        client = BioreactorClient(server.url, retries=2, retry_delay=0.01)
        self.assertEqual(client.get_capabilities(), {"co2_sensor": {"type": "sensor"}})
        self.assertEqual(server.connections, 2)

    def test_retries_zero_means_one_attempt(self) -> None:
        server = LoopbackServer(["close", "ok"])
        self.addCleanup(server.close)
        client = BioreactorClient(server.url, retries=0)
        with self.assertRaises(BioreactorConnectionError):
            client.get_capabilities()
        self.assertEqual(server.connections, 1)

    def test_a_url_that_is_not_http_is_refused_before_any_request(self) -> None:
        with self.assertRaisesRegex(ValueError, "BIOREACTOR_NODE_API_URL"):
            BioreactorClient("localhost:9000")

    def test_a_non_finite_value_is_refused_before_sending(self) -> None:
        client = BioreactorClient(f"http://127.0.0.1:{free_port()}", retries=0)
        with self.assertRaises(ValueError) as caught:
            client.control("stirrer", duty_cycle=float("nan"))
        self.assertIn("stirrer", str(caught.exception))
        self.assertIn("duty_cycle", str(caught.exception))
        self.assertIsInstance(caught.exception, BioreactorError)


if __name__ == "__main__":
    unittest.main()
