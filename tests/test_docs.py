"""Every hook is documented (datasette-style), and the docs name real objects."""

from __future__ import annotations

import inspect
import re

import pytest

from jetplug import hookspecs

from .conftest import REPO

DOCS = REPO / "docs"
#: the script that regenerates each page's generated tables (default: validate_calibration.sh)
SCRIPTS = {
    "trigger.md": "validate_trigger",
    "decorrelation.md": "validate_decorrelation",
    "anomaly.md": "validate_anomaly",
    "tuning.md": "tune_top_bdt",
    "domain.md": "validate_domain",
    "representation.md": "validate_jetclr",
    "meta.md": "validate_meta",
}


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


def test_cookbook_shows_the_example_plugins_as_they_are() -> None:
    text = (REPO / "docs" / "cookbook.md").read_text()
    blocks = re.findall(r"`(examples/[\w/.-]+\.py)`:\n\n```python\n(.*?)\n```", text, flags=re.S)
    shown = {path for path, _ in blocks}
    package = REPO / "examples" / "jetplug-example-plugin" / "jetplug_example"
    expected = {
        str(p.relative_to(REPO))
        for p in package.glob("*.py")
        if p.name not in ("__init__.py", "backend.py")
    }
    assert shown == expected, f"cookbook shows {sorted(shown)}, the package has {sorted(expected)}"
    for path, code in blocks:
        assert code == (REPO / path).read_text().rstrip(), f"docs/cookbook.md: {path} differs"


@pytest.mark.parametrize(
    ("page", "report", "name"),
    [
        ("calibration.md", "validation/calibration/calibration.md", ""),
        ("fastsim.md", "validation/fastsim/fastsim.md", ""),
        ("fastsim.md", "validation/fastsim/speed.md", "speed"),
        ("trigger.md", "validation/trigger/trigger.md", ""),
        ("trigger.md", "validation/trigger/latency.md", "latency"),
        ("trigger.md", "validation/trigger/fixed_point.md", "fixed_point"),
        ("decorrelation.md", "validation/decorrelation/W/decorrelation.md", "W"),
        ("decorrelation.md", "validation/decorrelation/top/decorrelation.md", "top"),
        ("anomaly.md", "validation/anomaly/anomaly.md", ""),
        ("tuning.md", "validation/tuning/tune.md", ""),
        ("domain.md", "validation/domain/domain.md", ""),
        ("representation.md", "validation/representation/representation.md", ""),
        ("meta.md", "validation/meta/meta.md", "W"),
        ("meta.md", "validation/meta/validate/decorrelation.md", "validate"),
        ("meta.md", "validation/meta/seeds/meta.md", "seeds"),
    ],
)
def test_validation_tables_in_docs_are_the_generated_ones(
    page: str, report: str, name: str
) -> None:
    from jetplug.validation.splice import generated_part, markers

    begin, end = markers(name)
    text = (DOCS / page).read_text()
    spliced = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert spliced == generated_part((DOCS / report).read_text()).strip(), (
        f"docs/{page} differs from docs/{report}: run scripts/"
        f"{SCRIPTS.get(page, 'validate_calibration')}.sh"
    )
