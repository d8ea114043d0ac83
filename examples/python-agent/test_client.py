"""Tests of agent_safe_client against a running `agent-safe serve` (AGENT_SAFE_URL) scaffolded by
`agent-safe init --approvals`, plus a few local stand-ins for servers that misbehave.

    AGENT_SAFE_URL=http://127.0.0.1:8080 python3 -m unittest -v test_client

Run by packages/cli/test/python-agent.test.ts against a real server.
"""

import http.server
import os
import socket
import threading
import unittest

from agent_safe_client import AgentSafeClient, AgentSafeError

URL = os.environ.get("AGENT_SAFE_URL", "")
DEV = {"namespace": "dev", "deployment": "app"}
PROD = {"namespace": "prod", "deployment": "api-server"}


def require_server() -> AgentSafeClient:
    if not URL:
        raise AssertionError("set AGENT_SAFE_URL to a running agent-safe serve (see README.md)")
    return AgentSafeClient(URL, timeout=10)


class AgainstServer(unittest.TestCase):
    def setUp(self) -> None:
        self.client = require_server()

    def test_healthy(self) -> None:
        self.assertTrue(self.client.healthy())

    def test_check_plan_answers_each_step_in_order(self) -> None:
        decisions = self.client.check_plan(
            [
                {"action": "restart-deployment", "target": "dev/test-app", "params": DEV, "caller": "plan-agent"},
                {"action": "restart-deployment", "target": "prod/api-server", "params": PROD, "caller": "plan-agent"},
                {"action": "no-such-action", "target": "dev/test-app", "params": {}, "caller": "plan-agent"},
            ]
        )
        self.assertEqual([d["result"] for d in decisions], ["ALLOW", "REQUIRE_APPROVAL", "DENY"])
        self.assertEqual([d["action"] for d in decisions], ["restart-deployment", "restart-deployment", "no-such-action"])
        # One plan, one correlation id.
        self.assertEqual(len({d["correlationId"] for d in decisions}), 1)

    def test_ticket_is_bound_to_its_params(self) -> None:
        decision = self.client.check("restart-deployment", "dev/test-app", DEV, caller="ticket-agent")
        self.assertEqual(decision["result"], "ALLOW")
        token = decision["ticket"]["token"]
        other = {"namespace": "dev", "deployment": "other"}
        result = self.client.validate_ticket(token, "restart-deployment", "dev/test-app", other, caller="ticket-agent")
        self.assertFalse(result["valid"])
        self.assertEqual(result["code"], "PARAMS_MISMATCH")

    def test_unknown_route_is_an_error_with_the_servers_code(self) -> None:
        with self.assertRaises(AgentSafeError) as caught:
            self.client.request("GET", "/v1/no-such-route")
        self.assertEqual(caught.exception.status, 404)
        self.assertEqual(caught.exception.code, "USAGE")
        self.assertIn("/v1/no-such-route", caught.exception.message)

    def test_body_of_the_wrong_shape_is_a_400(self) -> None:
        with self.assertRaises(AgentSafeError) as caught:
            self.client.request("POST", "/v1/check", {"action": "restart-deployment", "params": []})
        self.assertEqual(caught.exception.status, 400)
        self.assertEqual(caught.exception.code, "INPUT_INVALID")


class _Silent(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


class _PlainText502(_Silent):
    def do_GET(self) -> None:
        body = b"upstream exploded"
        self.send_response(502)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _NotJson(_Silent):
    def do_GET(self) -> None:
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(handler: type) -> http.server.HTTPServer:
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Transport(unittest.TestCase):
    def test_unreachable_server_is_unavailable(self) -> None:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with self.assertRaises(AgentSafeError) as caught:
            AgentSafeClient(f"http://127.0.0.1:{port}", timeout=5).check("a", "b", {})
        self.assertEqual(caught.exception.code, "UNAVAILABLE")
        self.assertIsNone(caught.exception.status)

    def test_silent_server_times_out(self) -> None:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection, never answers
        try:
            port = listener.getsockname()[1]
            with self.assertRaises(AgentSafeError) as caught:
                AgentSafeClient(f"http://127.0.0.1:{port}", timeout=0.3).check("a", "b", {})
            self.assertEqual(caught.exception.code, "TIMEOUT")
        finally:
            listener.close()

    def test_error_without_the_error_shape_names_the_status(self) -> None:
        server = _serve(_PlainText502)
        try:
            with self.assertRaises(AgentSafeError) as caught:
                AgentSafeClient(f"http://127.0.0.1:{server.server_port}").request("GET", "/v1/anything")
            self.assertEqual((caught.exception.code, caught.exception.status), ("HTTP_502", 502))
        finally:
            server.shutdown()
            server.server_close()

    def test_reply_that_is_not_json_is_refused(self) -> None:
        server = _serve(_NotJson)
        try:
            with self.assertRaises(AgentSafeError) as caught:
                AgentSafeClient(f"http://127.0.0.1:{server.server_port}").request("GET", "/healthz")
            self.assertEqual(caught.exception.code, "BAD_RESPONSE")
        finally:
            server.shutdown()
            server.server_close()

    def test_loopback_is_not_reached_through_a_proxy_from_the_environment(self) -> None:
        with socket.socket() as probe:  # a proxy address nothing listens on
            probe.bind(("127.0.0.1", 0))
            dead_proxy = f"http://127.0.0.1:{probe.getsockname()[1]}"
        saved = {name: os.environ.get(name) for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY")}
        os.environ.update({"http_proxy": dead_proxy, "HTTP_PROXY": dead_proxy, "no_proxy": "", "NO_PROXY": ""})
        try:
            self.assertTrue(require_server().healthy())
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def test_bad_settings_are_refused_up_front(self) -> None:
        with self.assertRaises(ValueError):
            AgentSafeClient("localhost:8080")
        with self.assertRaises(ValueError):
            AgentSafeClient("http://localhost:8080", timeout=0)


if __name__ == "__main__":
    unittest.main()
