"""Rebuild the schema fixtures from Adyen's published OpenAPI files (run by hand, not by pytest).

    git clone https://github.com/Adyen/adyen-openapi
    python extract.py adyen-openapi

Each fixture is one schema of the specification with every schema it references, in ``$defs``,
as the specification writes them; only ``description`` and ``example`` texts are left out (they
do not take part in validation) and the deviations listed in ``DEVIATIONS`` are applied.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
CHECKOUT = "json/CheckoutService-v71.json"
WEBHOOKS = "json/Webhooks-v1.json"

#: fixture file -> (specification file, schema name)
FIXTURES = {
    "PaymentRequest.json": (CHECKOUT, "PaymentRequest"),
    "PaymentDetailsRequest.json": (CHECKOUT, "PaymentDetailsRequest"),
    "PaymentCaptureRequest.json": (CHECKOUT, "PaymentCaptureRequest"),
    "PaymentRefundRequest.json": (CHECKOUT, "PaymentRefundRequest"),
    "PaymentCancelRequest.json": (CHECKOUT, "PaymentCancelRequest"),
    "PaymentResponse.json": (CHECKOUT, "PaymentResponse"),
    "PaymentDetailsResponse.json": (CHECKOUT, "PaymentDetailsResponse"),
    "PaymentCaptureResponse.json": (CHECKOUT, "PaymentCaptureResponse"),
    "PaymentRefundResponse.json": (CHECKOUT, "PaymentRefundResponse"),
    "PaymentCancelResponse.json": (CHECKOUT, "PaymentCancelResponse"),
    "ServiceError.json": (CHECKOUT, "ServiceError"),
    "NotificationRequest.json": (WEBHOOKS, "NotificationRequest"),
}

#: The one place the fixtures differ from the specification, and why.
DEVIATIONS = {
    "NotificationRequest.json": (
        "NotificationAdditionalData is replaced by a map of strings: the specification lists "
        "fixed keys, but Adyen sends the payment's metadata as 'metadata.<key>' entries there "
        "(as the specification's own AuthorisationNotificationAdditionalData.metadata says)."
    ),
}


def _strip(node: Any, *, names: bool = False) -> Any:
    """The schema without its annotation texts; ``names``: ``node`` maps property names."""
    if isinstance(node, dict):
        return {
            k: _strip(v, names=k == "properties" and not names)
            for k, v in node.items()
            if names or k not in ("description", "example")
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    if isinstance(node, str) and node.startswith("#/components/schemas/"):
        return "#/$defs/" + node.removeprefix("#/components/schemas/")
    return node


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def bundle(schemas: dict[str, Any], name: str) -> dict[str, Any]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        found: set[str] = set()
        _refs(schemas[current], found)
        todo.extend(found)
    return {n: _strip(copy.deepcopy(schemas[n])) for n in sorted(seen)}


def main(repo: Path) -> None:
    commit = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    specs = {
        path: json.loads((repo / path).read_text())["components"]["schemas"]
        for path in {CHECKOUT, WEBHOOKS}
    }
    for fixture, (path, name) in FIXTURES.items():
        defs = bundle(specs[path], name)
        if fixture == "NotificationRequest.json":
            defs["NotificationAdditionalData"] = {
                "type": "object",
                "additionalProperties": {"type": "string"},
            }
        comment = (
            f"components/schemas/{name} of https://github.com/Adyen/adyen-openapi {path} at "
            f"commit {commit}, with the schemas it references in $defs; description and example "
            "texts left out."
        )
        if fixture in DEVIATIONS:
            comment += " Deviation: " + DEVIATIONS[fixture]
        document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$comment": comment,
            "$ref": f"#/$defs/{name}",
            "$defs": defs,
        }
        (HERE / fixture).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
