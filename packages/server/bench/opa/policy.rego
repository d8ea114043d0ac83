# The load bench's policy for OPA (bench/load.mjs): the same rules as bench/project/policies/rules.yaml,
# with the same input checks agent-safe makes before its rules (known action and target, the target's type,
# the params against the action's definition) and the same risk matrix. Queried as
# POST /v1/data/agentsafe/decision with {"input": {"action", "target", "params", "caller" | "token"}}.
# data.json holds the actions, targets, matrix and rules (the same as the project's YAML).
# With data.agentsafe.key set (bench "bearer" runs) the caller must be an HS256 identity token, verified
# here as agent-safe verifies it (signature, expiry and not-before, issuer and audience).
package agentsafe

# The actions, targets, risk matrix and rules are data (data.json beside this file, loaded with it):
# OPA reads base documents from its store instead of building them on every query.
actions := data.bench.actions

targets := data.bench.targets

# packages/risk/src/risk-matrix.ts
matrix := data.bench.matrix

# In priority order, highest first; the first that applies decides.
rules := data.bench.rules

action := actions[input.action]

target := targets[input.target]

params := object.get(input, "params", {})

errors contains "caller: no valid identity token" if {
	data.agentsafe.key
	not caller
}

errors contains sprintf("action: unknown action %v", [input.action]) if not action

errors contains sprintf("target: unknown target %v", [input.target]) if not target

errors contains "target: the action does not apply to this target's type" if {
	not target.type in action.target_types
}

errors contains sprintf("params.%s is required", [name]) if {
	some name, p in action.params
	p.required
	not name in object.keys(params)
}

errors contains sprintf("params.%s is not a parameter of the action", [name]) if {
	some name, _ in params
	action
	not action.params[name]
}

errors contains sprintf("params.%s must be a %s", [name, p.type]) if {
	some name, p in action.params
	value := params[name]
	not has_type(value, p.type)
}

errors contains sprintf("params.%s is out of range", [name]) if {
	some name, p in action.params
	value := params[name]
	p.type == "integer"
	not in_range(value, p)
}

has_type(value, "string") if is_string(value)

has_type(value, "integer") if {
	is_number(value)
	round(value) == value
}

in_range(value, p) if {
	value >= p.min
	value <= p.max
}

# The caller: a verified HS256 identity token when a key is configured, else the plain agent id.
caller := payload.agent_id if {
	data.agentsafe.key
	constraints := {"secret": data.agentsafe.key, "iss": "agent-safe", "aud": "agent-safe", "time": time.now_ns()}
	[valid, _, payload] := io.jwt.decode_verify(input.token, constraints)
	valid
}

caller := input.caller if not data.agentsafe.key

risk := matrix[action.risk][target.sensitivity]

applies(rule) if {
	action_matches(rule)
	environment_matches(rule)
	risk_matches(rule)
}

action_matches(rule) if not rule.actions

action_matches(rule) if input.action in rule.actions

environment_matches(rule) if not rule.environments

environment_matches(rule) if target.environment in rule.environments

risk_matches(rule) if not rule.risks

risk_matches(rule) if risk in rule.risks

matching := [rule | some rule in rules; applies(rule)]

decision := {"result": "DENY", "reason": concat("; ", sort(errors)), "matched_rule": null} if {
	count(errors) > 0
} else := {
	"result": matching[0].decision, "reason": matching[0].reason, "matched_rule": matching[0].name,
	"caller": caller, "effective_risk": risk,
} if {
	count(matching) > 0
} else := {"result": "DENY", "reason": "No rule matched: denied by default", "matched_rule": null, "caller": caller}
