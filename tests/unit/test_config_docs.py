"""Every option of every script has --help text: each config dataclass field carries a docstring."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing

import pytest

from agents.configs import RUN_CONFIGS


def _config_classes() -> list[type]:
    """The run configs and every dataclass nested in them."""
    seen: dict[str, type] = {}
    todo = list(RUN_CONFIGS.values())
    while todo:
        cls = todo.pop()
        if cls.__qualname__ in seen:
            continue
        seen[cls.__qualname__] = cls
        hints = typing.get_type_hints(cls)
        todo += [t for t in hints.values() if dataclasses.is_dataclass(t) and isinstance(t, type)]
    return list(seen.values())


def _undocumented(cls: type) -> list[str]:
    """Fields of ``cls`` (and its dataclass bases) without a string literal right after them."""
    missing = []
    documented: set[str] = set()
    for klass in cls.__mro__:
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for stmt, nxt in zip(body, [*body[1:], None], strict=True):
            field_name = (
                stmt.target.id
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                else None
            )
            doc = (
                isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            )
            if field_name and doc:
                documented.add(field_name)
    for f in dataclasses.fields(cls):
        if f.name not in documented:
            missing.append(f.name)
    return missing


@pytest.mark.parametrize("cls", _config_classes(), ids=lambda c: c.__qualname__)
def test_every_option_has_help_text(cls: type) -> None:
    assert _undocumented(cls) == []
