"""What the API reference (mkdocstrings, by inspection) is built from, checked without building it.

The strict build itself runs in ``tox -e docs``; .ci/run then checks the built pages.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from unipay import AsyncGateway, Gateway
from unipay.models import (
    CancelPaymentRequest,
    CapturePaymentRequest,
    ConfirmPaymentRequest,
    CreatePaymentRequest,
    NextAction,
    Payment,
    Refund,
    RefundPaymentRequest,
    WebhookEvent,
)

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = [
    CreatePaymentRequest,
    ConfirmPaymentRequest,
    CapturePaymentRequest,
    CancelPaymentRequest,
    RefundPaymentRequest,
]
FACE_METHODS = [
    "create_payment",
    "confirm_payment",
    "capture_payment",
    "cancel_payment",
    "refund_payment",
    "retrieve_payment",
    "stored_payment",
]


@pytest.mark.parametrize(
    "model",
    [*REQUESTS, Payment, Refund, NextAction, WebhookEvent],
    ids=lambda model: model.__name__,
)
def test_every_model_field_is_explained(model: type[BaseModel]) -> None:
    assert model.__doc__
    undocumented = [name for name, field in model.model_fields.items() if not field.description]
    assert undocumented == [], f"{model.__name__}: add Field(description=...) to {undocumented}"


@pytest.mark.parametrize("face", [Gateway, AsyncGateway])
@pytest.mark.parametrize("name", FACE_METHODS)
def test_face_methods_show_their_real_return_type(face: type, name: str) -> None:
    method = getattr(face, name)
    # Documentation tools unwrap __wrapped__: it must not lead them to the `-> Flow[...]` flow.
    assert inspect.unwrap(method) is method
    shown = inspect.signature(method).return_annotation
    assert "Flow" not in str(shown)
    assert shown in {"Payment", "Refund", "Payment | None", "None"}
    assert method.__annotations__["return"] == shown
    assert (face is AsyncGateway) == inspect.iscoroutinefunction(method)


def reference_identifiers() -> list[str]:
    """Every ``::: identifier`` of the API reference pages."""
    return [
        identifier
        for page in sorted((ROOT / "docs" / "reference").glob("*.md"))
        for identifier in re.findall(r"^::: (\S+)", page.read_text(), re.MULTILINE)
    ]


def source_of(identifier: str) -> Path:
    parts = identifier.split(".")
    for end in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:end]))
        except ImportError:
            continue
        target: object = module
        for name in parts[end:]:
            target = getattr(target, name)
        source = inspect.getsourcefile(target)  # type: ignore[arg-type]
        assert source is not None
        return Path(source)
    raise AssertionError(f"{identifier} is not importable")


def test_rendered_docstrings_use_markdown_cross_references_not_rest_roles() -> None:
    """mkdocstrings renders Markdown: a reST role would be shown raw (``:class:`Store```)."""
    role = re.compile(r":(?:class|func|meth|attr|mod|exc|data|obj):`")
    files = {source_of(identifier) for identifier in reference_identifiers()}
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(files)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if role.search(line)
    ]
    assert found == [], f"use [`Name`][unipay.module.Name] instead of a reST role: {found}"


def test_the_reference_documents_no_private_type() -> None:
    for identifier in reference_identifiers():
        assert not any(part.startswith("_") for part in identifier.split(".")), identifier
