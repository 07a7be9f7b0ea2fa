"""Put a generated validation report into a hand-written page, between two markers.

    python -m jetplug.validation.splice PAGE REPORT

replaces what lies between ``<!-- generated: begin -->`` and
``<!-- generated: end -->`` in PAGE by REPORT's text without its title line,
so that the numbers a page shows are the ones the script produced, never
pasted (a test compares them).
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["BEGIN", "END", "generated_part", "splice"]

BEGIN = "<!-- generated: begin -->"
END = "<!-- generated: end -->"


def generated_part(report: str) -> str:
    """The report's text as spliced: without its ``# title`` line."""
    lines = report.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"


def splice(page: Path, report: Path) -> None:
    """Replace the generated part of ``page`` by ``report``."""
    text = page.read_text()
    if BEGIN not in text or END not in text:
        msg = f"{page} has no {BEGIN} ... {END} markers"
        raise SystemExit(msg)
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{generated_part(report.read_text())}{END}{tail}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        usage = "usage: python -m jetplug.validation.splice PAGE REPORT"
        raise SystemExit(usage)
    splice(Path(sys.argv[1]), Path(sys.argv[2]))
