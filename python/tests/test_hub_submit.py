"""submit_experiment: a retry after a timeout carries the same Idempotency-Key, so the hub queues the script once."""

import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List

from bioreactor_client import hub as hub_module
from bioreactor_client import submit_experiment
from bioreactor_client.errors import BioreactorConnectionError, ValidationError


class FakeHub:
    """Answers POST /api/experiments/start as the hub does with Idempotency-Key; slow on demand."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.by_key: Dict[str, str] = {}
        self.slow_first_s = 0.0
        self.status_sequence: List[int] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                key = self.headers.get("Idempotency-Key", "")
                fake.requests.append({"key": key, "body": body, "session": self.headers.get("X-Session-ID")})
                if fake.status_sequence:
                    code = fake.status_sequence.pop(0)
                    if code != 200:
                        payload = {"code": "SCRIPT_REJECTED" if code == 422 else "HUB_UNREACHABLE", "message": "no"}
                        if code == 400:
                            payload = {"code": "VALIDATION_FAILED", "message": "max_duration_s is above the limit"}
                        self._send(code, payload, {})
                        return
                replayed = key in fake.by_key
                experiment = fake.by_key.setdefault(key, f"exp-{len(fake.by_key) + 1}")
                if len(fake.requests) == 1 and fake.slow_first_s:
                    time.sleep(fake.slow_first_s)
                headers = {"Idempotency-Replayed": "true"} if replayed else {}
                self._send(200, {"experiment_id": experiment, "status": "queued", "queue_position": 1}, headers)

            def _send(self, code: int, payload: Dict[str, Any], headers: Dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting: the submission is queued all the same

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SubmitExperimentTest(unittest.TestCase):
    def setUp(self) -> None:
        self.hub = FakeHub()
        self.addCleanup(self.hub.close)
        backoff = hub_module._FIRST_BACKOFF_S
        hub_module._FIRST_BACKOFF_S = 0.01
        self.addCleanup(setattr, hub_module, "_FIRST_BACKOFF_S", backoff)

    def test_a_retry_after_a_timeout_gets_the_first_experiment(self) -> None:
        self.hub.slow_first_s = 1.0
        reply = submit_experiment("print('hi')\n", hub_url=self.hub.url, name="once", timeout=0.3, session_id="alice")
        self.assertEqual(reply["experiment_id"], "exp-1")
        self.assertTrue(reply["replayed"])
        keys = {r["key"] for r in self.hub.requests}
        self.assertEqual(len(keys), 1)
        self.assertEqual(len(self.hub.requests), 2)
        self.assertEqual(self.hub.requests[0]["body"], {"script_content": "print('hi')\n", "name": "once"})
        self.assertEqual(self.hub.requests[0]["session"], "alice")
        self.assertEqual(len(self.hub.by_key), 1)

    def test_retries_a_proxy_503_but_not_the_hubs_refusal(self) -> None:
        self.hub.status_sequence = [503, 200]
        self.assertEqual(submit_experiment("print(1)\n", hub_url=self.hub.url)["experiment_id"], "exp-1")
        self.hub.status_sequence = [400]
        with self.assertRaises(ValidationError) as caught:
            submit_experiment("print(1)\n", hub_url=self.hub.url, max_duration_s=10**9)
        self.assertIn("above the limit", str(caught.exception))
        self.assertEqual(len(self.hub.requests), 3)

    def test_reads_a_script_file_and_says_when_the_hub_cannot_be_reached(self) -> None:
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
            handle.write("print('from a file')\n")
        self.addCleanup(lambda: __import__("os").unlink(handle.name))
        submit_experiment(handle.name, hub_url=self.hub.url, idempotency_key="mine-1")
        self.assertEqual(self.hub.requests[-1]["body"]["script_content"], "print('from a file')\n")
        self.assertEqual(self.hub.requests[-1]["key"], "mine-1")
        self.hub.close()
        with self.assertRaises(BioreactorConnectionError):
            submit_experiment("print(1)\n", hub_url=self.hub.url, timeout=0.5)


if __name__ == "__main__":
    unittest.main()
