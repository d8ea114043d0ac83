"""A deploy agent that asks the Agent-Safe sidecar before every action and acts only on ALLOW.

    agent-safe init demo --approvals && (cd demo && agent-safe serve --port 8080) &
    AGENT_SAFE_URL=http://localhost:8080 python3 examples/python-agent/main.py

Environment: AGENT_SAFE_URL (default http://localhost:8080), AGENT_SAFE_TOKEN (the agent's identity
token, sent as a bearer token; without one the server must allow plain callers).
Exits 0 when every step got an answer (whatever it was), 1 when the server could not be asked.
"""

import sys

from agent_safe_client import AgentSafeClient, AgentSafeError

AGENT = "deploy-agent"

# What the agent wants to do, as a model's tool calls would ask for it (the project `agent-safe init`
# scaffolds decides: dev is allowed, prod needs a person, 500 replicas is above the action's maximum).
PLAN = [
    ("restart-deployment", "dev/test-app", {"namespace": "dev", "deployment": "app"}),
    ("restart-deployment", "prod/api-server", {"namespace": "prod", "deployment": "api-server"}),
    ("scale-deployment", "dev/test-app", {"namespace": "dev", "deployment": "app", "replicas": 500}),
]


def act(client: AgentSafeClient, action: str, target: str, params: dict, decision: dict) -> None:
    """Stands for the real tool call. An executor that holds the ticket validates it first."""
    ticket = (decision.get("ticket") or {}).get("token")
    if not ticket:
        print(f"  acting: {action} on {target} (no ticket: signing is not configured)")
        return
    check = client.validate_ticket(ticket, action, target, params, caller=AGENT)
    if not check["valid"]:
        print(f"  not acting: the ticket was refused ({check.get('code')}): {check['reason']}")
        return
    print(f"  acting: {action} on {target} with ticket {ticket[:12]}… (validated: {check['reason']})")
    # Tickets are single use: presenting the same one again is refused.
    again = client.validate_ticket(ticket, action, target, params, caller=AGENT)
    print(f"  replayed ticket: valid={again['valid']} code={again.get('code')}")


def main() -> int:
    client = AgentSafeClient(timeout=5.0)
    try:
        for action, target, params in PLAN:
            decision = client.check(action, target, params, caller=AGENT)
            print(f"{decision['result']:<16} {action} on {target}: {decision['reason']}")
            if decision["result"] == "ALLOW":
                act(client, action, target, params, decision)
            elif decision["result"] == "REQUIRE_APPROVAL":
                approval = decision.get("approvalId")
                waiting = f" (approval request {approval})" if approval else ""
                print(f"  not acting: a person must approve first{waiting}")
            else:
                print("  not acting: denied")

        # A request the server refuses outright (params must be an object) raises AgentSafeError
        # carrying the server's error code and message.
        try:
            client.request("POST", "/v1/check", {"action": "restart-deployment", "target": "dev/test-app", "params": 42})
            print("bad request: unexpectedly answered")
        except AgentSafeError as error:
            print(f"bad request refused: {error.code} (HTTP {error.status}): {error.message}")
    except AgentSafeError as error:
        # Fail closed: no answer means no action.
        print(f"agent-safe unavailable, doing nothing: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
