"""Validates FHIR R4 JSON documents with `fhir.resources` (R4B models; R4B changed nothing in
Bundle, Observation or OperationOutcome that wardstream uses), a library not written by
wardstream, and prints what it read, so the Rust test checks values as an independent parser
sees them.

Input: one JSON document per line on stdin (a Bundle or an OperationOutcome).
Output: one JSON line per document: `{"ok": true, ...}` with what was parsed, or
`{"ok": false, "error": "..."}`. Besides the library's model validation (structure, types,
primitive formats, no unknown elements), the FHIR JSON rules the models do not check are applied:
no null, empty string, empty object or empty array anywhere (R4 "JSON representation"), resource
ids of 1-64 characters of [A-Za-z0-9.-], and the required value sets of the codes read here.
"""

import datetime
import json
import re
import sys

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome

ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
OBSERVATION_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                      "entered-in-error", "unknown"}
BUNDLE_TYPES = {"document", "message", "transaction", "transaction-response", "batch",
                "batch-response", "history", "searchset", "collection"}
SEVERITY = {"fatal", "error", "warning", "information"}
ISSUE_TYPES = {"invalid", "structure", "required", "value", "invariant", "security", "login",
               "unknown", "expired", "forbidden", "suppressed", "processing", "not-supported",
               "duplicate", "multiple-matches", "not-found", "deleted", "too-long", "code-invalid",
               "extension", "too-costly", "business-rule", "conflict", "transient", "lock-error",
               "no-store", "exception", "timeout", "incomplete", "throttled", "informational"}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def json_rules(value, path="$"):
    if value is None:
        raise ValueError(f"{path} is null")
    if isinstance(value, (str, list, dict)) and len(value) == 0:
        raise ValueError(f"{path} is empty")
    if isinstance(value, dict):
        for key, item in value.items():
            json_rules(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            json_rules(item, f"{path}[{i}]")


def micros(dt):
    if dt.tzinfo is None:
        raise ValueError(f"{dt} has no time zone")
    return (dt - EPOCH) // datetime.timedelta(microseconds=1)


def observation(o: Observation):
    if not ID.match(o.id or ""):
        raise ValueError(f"Observation.id {o.id!r} is not a FHIR id")
    if o.status not in OBSERVATION_STATUS:
        raise ValueError(f"Observation.status {o.status!r}")
    codings = {c.system: c.code for c in o.code.coding}
    return {
        "id": o.id,
        "status": o.status,
        "category": [c.code for cat in o.category for c in cat.coding],
        "loinc": codings.get("http://loinc.org"),
        "mdc": codings.get("urn:iso:std:iso:11073:10101"),
        "coding_systems": [c.system for c in o.code.coding],
        "subject": o.subject.reference,
        "encounter": o.encounter.identifier.value if o.encounter else None,
        "effective": micros(o.effectiveDateTime),
        "issued": micros(o.issued),
        "value": float(o.valueQuantity.value),
        "unit": o.valueQuantity.code,
        "unit_system": o.valueQuantity.system,
        "device": o.device.identifier.value,
        "tags": [t.code for t in (o.meta.tag if o.meta and o.meta.tag else [])],
        "interpretation": [i.text for i in (o.interpretation or [])],
    }


def document(text):
    raw = json.loads(text)
    json_rules(raw)
    kind = raw.get("resourceType")
    if kind == "Bundle":
        bundle = Bundle.model_validate_json(text)
        if bundle.type not in BUNDLE_TYPES:
            raise ValueError(f"Bundle.type {bundle.type!r}")
        entries = bundle.entry or []
        observations = []
        for e in entries:
            if not isinstance(e.resource, Observation):
                raise ValueError(f"entry {e.fullUrl} is not an Observation")
            if e.search is None or e.search.mode != "match":
                raise ValueError(f"entry {e.fullUrl} has no search.mode match")
            if not e.fullUrl.endswith("/Observation/" + e.resource.id):
                raise ValueError(f"fullUrl {e.fullUrl} does not name {e.resource.id}")
            observations.append(observation(e.resource))
        return {
            "resourceType": "Bundle",
            "type": bundle.type,
            "total": bundle.total,
            "links": {link.relation: link.url for link in (bundle.link or [])},
            "observations": observations,
        }
    if kind == "OperationOutcome":
        outcome = OperationOutcome.model_validate_json(text)
        issues = []
        for issue in outcome.issue:
            if issue.severity not in SEVERITY or issue.code not in ISSUE_TYPES:
                raise ValueError(f"issue {issue.severity!r} {issue.code!r} outside the value sets")
            issues.append({"severity": issue.severity, "code": issue.code, "diagnostics": issue.diagnostics})
        return {"resourceType": "OperationOutcome", "issues": issues}
    raise ValueError(f"unexpected resourceType {kind!r}")


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = {"ok": True, **document(line)}
        except Exception as e:  # every failure is reported, per document
            out = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
