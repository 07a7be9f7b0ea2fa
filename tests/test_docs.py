"""Every hook is documented (datasette-style), and the docs name real objects."""

from __future__ import annotations

import inspect
import re

from jetplug import hookspecs

from .conftest import REPO


def _hooks() -> list[str]:
    return [
        n for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("jetplug_")
    ]


def test_every_hook_has_a_docstring_and_a_docs_heading() -> None:
    text = (REPO / "docs" / "hooks.md").read_text()
    headings = set(re.findall(r"^## `(jetplug_\w+)\(", text, flags=re.M))
    assert _hooks(), "no hooks found"
    for name in _hooks():
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"
        assert name in headings, f"{name} is not documented in docs/hooks.md"
    assert headings <= set(_hooks()), (
        f"docs mention hooks that do not exist: {headings - set(_hooks())}"
    )


def test_generated_reference_is_up_to_date() -> None:
    from jetplug.reference import render_reference

    text = (REPO / "docs" / "reference.md").read_text()
    assert text == render_reference(), (
        "docs/reference.md is out of date: python -m jetplug.reference > docs/reference.md"
    )


def test_hook_headings_carry_the_real_signatures() -> None:
    text = (REPO / "docs" / "hooks.md").read_text()
    for name in _hooks():
        params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"## `{name}({params})`" in text, f"docs/hooks.md: {name} heading lacks ({params})"
