"""A small client for the Agent-Safe sidecar (`agent-safe serve`), standard library only.

    from agent_safe_client import AgentSafeClient, AgentSafeError

    client = AgentSafeClient("http://localhost:8080", token=os.environ.get("AGENT_SAFE_TOKEN"))
    decision = client.check("restart-deployment", "dev/test-app",
                            {"namespace": "dev", "deployment": "app"}, caller="deploy-agent")
    if decision["result"] == "ALLOW":
        ...  # act, handing decision["ticket"]["token"] to the executor if it validates tickets

Every method returns the server's JSON as plain dicts and lists (the SDK's Decision and
TicketValidationResult shapes). An HTTP error, an unreachable server, a timeout or a response that is
not the expected JSON raises AgentSafeError with the server's `error.code` and `message` (or a code of
this client's own: UNAVAILABLE, TIMEOUT, BAD_RESPONSE). Treat every exception as "not allowed": the
agent fails closed.

Python 3.9+; no third-party packages.
"""

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["AgentSafeClient", "AgentSafeError", "DEFAULT_URL"]

DEFAULT_URL = "http://localhost:8080"
# Responses larger than this are refused rather than read into memory.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


class AgentSafeError(Exception):
    """The sidecar refused a request or could not be asked.

    status: the HTTP status (None when no response arrived).
    code: the server's error code (e.g. BAD_REQUEST, UNAUTHENTICATED), or UNAVAILABLE, TIMEOUT,
          BAD_RESPONSE when the problem is on the way to the server.
    message: the server's message, or what went wrong.
    """

    def __init__(self, code: str, message: str, status: Optional[int] = None) -> None:
        self.code = code
        self.message = message
        self.status = status
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{code}: {message} ({where})")


class AgentSafeClient:
    """Talks to one Agent-Safe server.

    base_url: e.g. http://localhost:8080 (default: $AGENT_SAFE_URL, else http://localhost:8080).
    token: the caller's identity token, sent as `Authorization: Bearer <token>` (default:
           $AGENT_SAFE_TOKEN, else none: the server then decides for plain callers only if it allows them).
    timeout: seconds for connecting and for each read (default 5).
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        token: Optional[str] = None,
        timeout: float = 5.0,
    ) -> None:
        url = base_url or os.environ.get("AGENT_SAFE_URL") or DEFAULT_URL
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
        if not timeout or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.base_url = url.rstrip("/")
        # A sidecar on loopback is never reached through HTTP(S)_PROXY from the environment.
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        loopback = host == "localhost" or host.startswith("127.") or host == "::1"
        self._opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if loopback else []))
        self.token = token if token is not None else os.environ.get("AGENT_SAFE_TOKEN") or None
        self.timeout = timeout

    # --- decisions ---------------------------------------------------------------------------------

    def check(
        self,
        action: str,
        target: str,
        params: Optional[Mapping[str, Any]] = None,
        caller: Optional[str] = None,
        token: Optional[str] = None,
        ticket_id: Optional[str] = None,
        correlation_id: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
    ) -> Dict[str, Any]:
        """Asks whether `caller` may run `action` on `target` with `params`; returns the Decision.

        decision["result"] is ALLOW, DENY or REQUIRE_APPROVAL; decision["reason"] says why; on ALLOW with
        ticket signing configured, decision["ticket"]["token"] is the single-use execution ticket.
        A bad request (unknown action, invalid params …) is a DENY with its reason, not an exception.
        """
        body: Dict[str, Any] = {"action": action, "target": target, "params": dict(params or {})}
        if caller is not None:
            body["caller"] = caller
        if ticket_id is not None:
            body["ticketId"] = ticket_id
        if correlation_id is not None:
            body["correlationId"] = correlation_id
        if context is not None:
            body["context"] = dict(context)
        return self._expect_object(self.request("POST", "/v1/check", body, token=token), "result")

    def check_plan(self, steps: Sequence[Mapping[str, Any]], token: Optional[str] = None) -> List[Dict[str, Any]]:
        """Checks every step of a plan (each a dict like check()'s body: action, target, params, caller …).

        Returns one Decision per step, in order; go ahead only if every one is ALLOW.
        """
        reply = self.request("POST", "/v1/check-plan", {"steps": [dict(step) for step in steps]}, token=token)
        decisions = reply.get("decisions") if isinstance(reply, dict) else reply
        if not isinstance(decisions, list) or not all(isinstance(d, dict) for d in decisions):
            raise AgentSafeError("BAD_RESPONSE", "POST /v1/check-plan did not return a list of decisions")
        return decisions

    def validate_ticket(
        self,
        ticket: str,
        action: str,
        target: str,
        params: Optional[Mapping[str, Any]] = None,
        caller: Optional[str] = None,
        token: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Validates (and consumes: tickets are single use) an execution ticket before executing.

        Returns {"valid": True, "reason", "ticket"} or {"valid": False, "reason", "code"}: a refused
        ticket is an answer, not an exception. Execute only when result["valid"] is True.
        """
        body: Dict[str, Any] = {"token": ticket, "action": action, "target": target, "params": dict(params or {})}
        if caller is not None:
            body["caller"] = caller
        return self._expect_object(self.request("POST", "/v1/tickets/validate", body, token=token), "valid")

    def healthy(self) -> bool:
        """True when GET /healthz answers 200."""
        try:
            self.request("GET", "/healthz")
            return True
        except AgentSafeError:
            return False

    # --- transport ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, token: Optional[str] = None) -> Any:
        """Sends one request and returns the parsed JSON reply; raises AgentSafeError on any failure."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        bearer = token if token is not None else self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        where = f"{method} {path}"
        try:
            with self._opener.open(req, timeout=self.timeout) as response:
                status = response.status
                raw = _read_bounded(response, where)
        except urllib.error.HTTPError as error:
            raise _server_error(error, where) from None
        except urllib.error.URLError as error:
            if isinstance(error.reason, (socket.timeout, TimeoutError)):
                raise AgentSafeError("TIMEOUT", f"{where}: no answer within {self.timeout}s") from None
            raise AgentSafeError(
                "UNAVAILABLE", f"{where}: cannot reach {self.base_url} ({error.reason}); is agent-safe serve running?"
            ) from None
        except (socket.timeout, TimeoutError):
            raise AgentSafeError("TIMEOUT", f"{where}: no answer within {self.timeout}s") from None
        except (ConnectionError, OSError) as error:
            raise AgentSafeError("UNAVAILABLE", f"{where}: connection to {self.base_url} failed ({error})") from None
        try:
            return json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            raise AgentSafeError("BAD_RESPONSE", f"{where}: the reply is not JSON", status) from None

    @staticmethod
    def _expect_object(reply: Any, key: str) -> Dict[str, Any]:
        if not isinstance(reply, dict) or key not in reply:
            raise AgentSafeError("BAD_RESPONSE", f"the reply has no {key!r} field")
        return reply


def _read_bounded(response: Any, where: str) -> bytes:
    raw = response.read(MAX_RESPONSE_BYTES + 1)
    if len(raw) > MAX_RESPONSE_BYTES:
        raise AgentSafeError("BAD_RESPONSE", f"{where}: the reply is larger than {MAX_RESPONSE_BYTES} bytes")
    return raw


def _server_error(error: urllib.error.HTTPError, where: str) -> AgentSafeError:
    """The server's `{ "error": { "code", "message" } }`, or the HTTP status when the body is not that."""
    try:
        raw = error.read(64 * 1024)
        payload = json.loads(raw.decode("utf-8"))
        detail = payload["error"]
        code, message = str(detail["code"]), str(detail["message"])
    except Exception:  # any body that is not the documented error shape
        code, message = f"HTTP_{error.code}", f"{where}: {error.reason}"
    finally:
        error.close()
    return AgentSafeError(code, message, error.code)
