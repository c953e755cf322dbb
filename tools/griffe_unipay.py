"""A griffe extension for the API reference: pydantic fields shown, generated members hidden.

- Pydantic (v2) keeps a model's fields out of the class namespace, so griffe's inspection sees
  none of them: each field is added as an attribute, documented by its ``Field(description=...)``.
- Pydantic gives every frozen model a ``__hash__`` made inside one of its functions, an alias
  griffe cannot resolve (``...make_hash_func.<locals>.hash_func``): such members are generated
  and undocumented, so they are left out.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

import griffe


def _type_name(annotation: Any) -> str:
    """``str | None`` rather than ``typing.Optional[str]``; classes by their own name."""
    if typing.get_origin(annotation) is typing.Annotated:  # validators are not the type
        return _type_name(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return " | ".join(_type_name(arg) for arg in typing.get_args(annotation))
    origin = typing.get_origin(annotation)
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', repr(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", repr(annotation))


class UnipayReference(griffe.Extension):
    """Add pydantic fields with their descriptions; drop members aliasing local functions."""

    def on_class_members(self, *, node: Any, cls: griffe.Class, **kwargs: Any) -> None:
        for name, member in list(cls.members.items()):
            if member.is_alias and "<locals>" in member.target_path:
                cls.del_member(name)
        model = getattr(node, "obj", None)
        fields = getattr(model, "__pydantic_fields__", None)
        if not isinstance(fields, dict):
            return
        for name, field in fields.items():
            if name in cls.members or not field.description:
                continue
            if field.default_factory is not None:
                value: str | None = f"{field.default_factory.__name__}()"
            elif field.is_required():
                value = None
            elif isinstance(field.default, enum.Enum):
                value = repr(field.default.value)
            else:
                value = repr(field.default)
            attribute = griffe.Attribute(
                name,
                value=value,
                annotation=_type_name(field.annotation),
                docstring=griffe.Docstring(field.description),
            )
            attribute.labels.add("instance-attribute")
            cls.set_member(name, attribute)
