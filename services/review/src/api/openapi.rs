//! `GET /openapi.json`: the API described for clients (OpenAPI 3.1, written by hand so the
//! domain types need no schema derives).

use serde_json::{Value, json};

fn error_responses(extra: &[(&str, &str)]) -> Value {
    let mut r = json!({
        "422": {"description": "A field breaks a rule; `error.field` names it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    });
    for (code, what) in extra {
        r[*code] = json!({"description": what, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    }
    r
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

fn created(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

fn case_no_param() -> Value {
    json!({"name": "case_no", "in": "path", "required": true, "schema": {"type": "string"}})
}

pub fn document() -> Value {
    let refusal = "Refused by a rule (Art 35-36, Decisions 4-5); `error.code` names it, e.g. review_needs_handling_opinion, review_window_closed, rereview_window_closed, already_requested, terminated, opinion_sent_back, not_allowed, review_organ_outside_system, organ_not_served";
    let not_the_organ = "The caller does not act for the organ the appeal is addressed to (a reviewer scoped to the organ's county, or an operator in scope; never a clerk or a department)";
    let mut request_ok = error_responses(&[
        ("403", "The ID number does not match the case's petitioner"),
        ("404", "No case with that number or query code here"),
        ("409", refusal),
        (
            "429",
            "`too_many_attempts`: too many wrong ID numbers for this query code; or `rate_limited` (`review.rate_limit`): too many failed requests from this address or requests for this code. Refused until `Retry-After` seconds pass",
        ),
    ]);
    let retry_after = json!({"Retry-After": {"description": "Seconds until requests are taken again", "schema": {"type": "integer"}}});
    request_ok["429"]["headers"] = retry_after.clone();
    request_ok["201"] =
        created("Requested: level, organ, organ_name, requested_at, decide_by, events");
    let mut external_ok = error_responses(&[("404", "No such case here"), ("409", refusal)]);
    external_ok["201"] = created("Recorded: as for POST /v1/reviews");
    let mut decision_ok = error_responses(&[
        ("403", not_the_organ),
        ("404", "No such appeal here"),
        ("409", refusal),
    ]);
    decision_ok["201"] = created(
        "Decided: outcome, decided_by (the caller, `<role>:<token id>`), sends_back (revoked or changed: the matter goes back to the handling organ for a new opinion), served_on, due, late, events",
    );
    let mut hearing_ok = error_responses(&[
        ("403", not_the_organ),
        ("404", "No such appeal here"),
        (
            "409",
            "Refused: not_requested, hearing_open, no_hearing, already_decided, organ_not_served",
        ),
    ]);
    hearing_ok["201"] =
        created("Recorded: action, at, decide_by (D10 with hearing days left out), events");
    let mut eval_ok = error_responses(&[
        ("404", "No case with that query code here"),
        (
            "409",
            "Refused: not_served, evaluation_window_closed, already_evaluated",
        ),
        (
            "429",
            "`rate_limited` (`review.rate_limit`): too many failed requests from this address or requests for this query code; refused until `Retry-After` seconds pass",
        ),
    ]);
    eval_ok["429"]["headers"] = retry_after;
    eval_ok["201"] = created("Evaluated: case_no, bureau, unit, department, evaluated_at, event");
    let rating = json!({"type": "string", "enum": ["satisfied", "basically_satisfied", "dissatisfied", "满意", "基本满意", "不满意"]});
    let level = json!({"type": "string", "enum": ["review", "rereview"]});
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "xinfang review",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "复查 (Art 35) and 复核 (Art 36) requests and decisions, hearings, the termination registry (终结库) and satisfaction evaluation (Decisions 5)."
        },
        "paths": {
            "/v1/reviews": {"post": {
                "summary": "Request 复查 or 复核: the petitioner with query_code + id_number, or a clerk with clerk_id + case_no",
                "requestBody": body(json!({"type": "object", "additionalProperties": false, "properties": {
                    "case_no": {"type": "string"}, "query_code": {"type": "string"},
                    "id_number": {"type": "string"}, "clerk_id": {"type": "string"},
                    "level": level, "grounds": {"type": "string", "maxLength": 5000},
                    "posted_on": {"type": "string", "format": "date", "description": "A request sent by post: the postmark date, keyed in by the clerk (clerk_id). The 30-day window (D7/D9) is checked against it (Decisions 1); not after today, not before the opinion appealed against was served"}}})),
                "responses": request_ok
            }},
            "/v1/reviews/external": {"post": {
                "summary": "Record a request made to an organ above the directory (e.g. the province)",
                "requestBody": body(json!({"type": "object", "additionalProperties": false,
                    "required": ["case_no", "organ_name", "requested_on", "clerk_id"], "properties": {
                    "case_no": {"type": "string"}, "level": level, "organ_name": {"type": "string"},
                    "requested_on": {"type": "string", "format": "date"}, "clerk_id": {"type": "string"},
                    "grounds": {"type": "string"}}})),
                "responses": external_ok
            }},
            "/v1/reviews/{case_no}": {"get": {
                "summary": "A case's appeals, hearings, termination and evaluation as this deployment knows them",
                "parameters": [case_no_param()],
                "responses": {"200": {"description": "The case's review record"}, "404": {"description": "Unknown here"}}
            }},
            "/v1/reviews/{case_no}/decision": {"post": {
                "summary": "The review organ's opinion (D8 / D10), by a principal of that organ; revoke or change sends the matter back to the handling organ for a new opinion",
                "parameters": [case_no_param()],
                "requestBody": body(json!({"type": "object", "additionalProperties": false,
                    "required": ["level", "outcome", "text", "served_on"], "properties": {
                    "level": level, "outcome": {"type": "string", "enum": ["uphold", "change", "revoke"]},
                    "text": {"type": "string"}, "served_on": {"type": "string", "format": "date"},
                    "decided_by": {"type": "string", "deprecated": true, "description": "Ignored: who decided is the caller's token"}}})),
                "responses": decision_ok
            }},
            "/v1/reviews/{case_no}/hearing": {"post": {
                "summary": "A 复核 hearing (听证) starts or finishes; D10 is paused meanwhile",
                "parameters": [case_no_param()],
                "requestBody": body(json!({"type": "object", "additionalProperties": false,
                    "required": ["action"], "properties": {
                    "action": {"type": "string", "enum": ["start", "finish"]},
                    "at": {"type": "string", "format": "date-time"},
                    "clerk_id": {"type": "string", "deprecated": true, "description": "Ignored: who acted is the caller's token"}}})),
                "responses": hearing_ok
            }},
            "/v1/evaluations": {"post": {
                "summary": "The petitioner rates the bureau and the handling unit (不满意 needs a reason)",
                "requestBody": body(json!({"type": "object", "additionalProperties": false,
                    "required": ["query_code", "bureau", "unit"], "properties": {
                    "query_code": {"type": "string"}, "bureau": rating, "unit": rating,
                    "reason": {"type": "string", "maxLength": 5000}}})),
                "responses": eval_ok
            }},
            "/v1/terminations": {"get": {
                "summary": "终结库 entries of a petitioner (audit)",
                "parameters": [{"name": "petitioner_key", "in": "query", "required": true, "schema": {"type": "string"}},
                    {"name": "county", "in": "query", "required": false, "description": "The county whose entries to list; the caller's scope by default", "schema": {"type": "string", "pattern": "^[0-9]{6}$"}}],
                "responses": {"200": {"description": "{terminations: [...]}"}, "422": {"description": "petitioner_key missing or malformed"}}
            }},
            "/v1/terminations/search": {"post": {
                "summary": "终结库 entries of a petitioner found by the petitioner's ID number: a clerk or reviewer of the county; the number goes in the body only, is hashed on the server as intake hashes it, and is never stored or logged; the search is audited",
                "requestBody": body(json!({"type": "object", "additionalProperties": false,
                    "required": ["id_number"], "properties": {
                    "id_number": {"type": "string", "description": "The 18-character 公民身份号码 (GB 11643)"},
                    "county": {"type": "string", "pattern": "^[0-9]{6}$", "description": "The county whose entries to list; the caller's scope by default"},
                    "reason": {"type": "string", "maxLength": 200, "description": "Why (recorded in the audit log)"}}})),
                "responses": {"200": {"description": "{terminations: [...]}: case_no, home_county, rereview_organ, outcome, decision_served_on, terminated_at, …", "content": {"application/json": {"schema": {"type": "object"}}}},
                    "422": {"description": "`id_number` missing or not a valid ID number; `error.field` names it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
            }},
            "/v1/terminations/export": {"get": {
                "summary": "This deployment's terminated matters in the registry format xf-termination/1 (docs/termination-registry.md), in export-number order after the cursor: an operator of the county (audited)",
                "parameters": [
                    {"name": "since", "in": "query", "required": false, "description": "Matters terminated on or after this day (China time)", "schema": {"type": "string", "format": "date"}},
                    {"name": "after", "in": "query", "required": false, "description": "The cursor: the export number of the last entry already written (0, the default: from the start)", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "limit", "in": "query", "required": false, "description": "Entries per page (default 100)", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    {"name": "county", "in": "query", "required": false, "description": "The county whose matters to export; the caller's scope by default", "schema": {"type": "string", "pattern": "^[0-9]{6}$"}}],
                "responses": {
                    "200": {"description": "{format, entries: [{seq, record}], next, more}: `next` is the cursor to continue from", "content": {"application/json": {"schema": {"type": "object", "required": ["format", "entries", "next", "more"], "properties": {
                        "format": {"type": "string"}, "entries": {"type": "array", "items": {"type": "object"}}, "next": {"type": "integer"}, "more": {"type": "boolean"}}}}}},
                    "403": {"description": "Not an operator, or the county is outside the caller's scope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "422": {"description": "A parameter breaks a rule; `error.field` names it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
            }},
            "/v1/terminations/import": {"post": {
                "summary": "A batch of the province's terminated-matters list: every record is checked (a refusal names the line and the field) and stored once; an operator covering every county of the deployment (audited)",
                "requestBody": body(json!({"type": "object", "additionalProperties": false,
                    "required": ["records"], "properties": {
                    "source": {"type": "string", "maxLength": 200, "description": "The list's label, e.g. its file name"},
                    "dry_run": {"type": "boolean", "description": "Check and count, store nothing"},
                    "records": {"type": "array", "maxItems": 100, "items": {"type": "object", "additionalProperties": false,
                        "required": ["line", "record"], "properties": {
                        "line": {"type": "integer", "minimum": 0}, "record": {"type": "object", "description": "An xf-termination/1 record"}}}}}})),
                "responses": {
                    "200": {"description": "{received, new, updated, unchanged, own, dry_run}", "content": {"application/json": {"schema": {"type": "object", "properties": {
                        "received": {"type": "integer"}, "new": {"type": "integer"}, "updated": {"type": "integer"}, "unchanged": {"type": "integer"}, "own": {"type": "integer"}, "dry_run": {"type": "boolean"}}}}}},
                    "403": {"description": "Not an operator covering every county of the deployment", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                    "422": {"description": "A record breaks a rule: `error.message` starts with `line N:` and `error.field` names the field", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
            }}
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {
            "type": "object", "required": ["code", "message"], "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}}}}}
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_every_route() {
        let d = super::document();
        for p in [
            "/v1/reviews",
            "/v1/reviews/external",
            "/v1/reviews/{case_no}",
            "/v1/reviews/{case_no}/decision",
            "/v1/reviews/{case_no}/hearing",
            "/v1/evaluations",
            "/v1/terminations",
            "/v1/terminations/export",
            "/v1/terminations/import",
        ] {
            assert!(d["paths"][p].is_object(), "{p}");
        }
    }
}
