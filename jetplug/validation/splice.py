"""Put a generated validation report into a hand-written page, between two markers.

    python -m jetplug.validation.splice PAGE REPORT [NAME]

replaces what lies between ``<!-- generated: begin -->`` and
``<!-- generated: end -->`` (``<!-- generated: begin NAME -->`` ... for a
page with several) in PAGE by REPORT's text without its title line,
so that the numbers a page shows are the ones the script produced, never
pasted (a test compares them).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["BEGIN", "END", "generated_part", "markers", "splice"]

BEGIN = "<!-- generated: begin -->"
END = "<!-- generated: end -->"


def markers(name: str = "") -> tuple[str, str]:
    """The begin and end markers of the generated part called ``name``."""
    if not name:
        return BEGIN, END
    return f"<!-- generated: begin {name} -->", f"<!-- generated: end {name} -->"


def generated_part(report: str) -> str:
    """The report's text as spliced: without its ``# title`` line."""
    lines = report.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"


def splice(page: Path, report: Path, name: str = "") -> None:
    """Replace the generated part ``name`` of ``page`` by ``report``."""
    begin, end = markers(name)
    text = page.read_text()
    if begin not in text or end not in text:
        msg = f"{page} has no {begin} ... {end} markers"
        raise SystemExit(msg)
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{generated_part(report.read_text())}{end}{tail}")


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        usage = "usage: python -m jetplug.validation.splice PAGE REPORT [NAME]"
        raise SystemExit(usage)
    splice(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])
