"""Root conftest: the jetplug pytest plugin in a source checkout.

An installed jetplug registers :mod:`jetplug.testing` through its ``pytest11``
entry point; a checkout run with ``PYTHONPATH`` (or an install made before the
entry point existed) does not, so it is registered here instead. Registering
it both ways would be an error, hence the check.

The real CMS files of this repository's tests are where the ``jetplug_file``
fixture looks (``JETPLUG_DATA``), unless the environment says otherwise.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

_ENTRY_POINTS = importlib.metadata.entry_points(group="pytest11")
if not any(ep.value == "jetplug.testing" for ep in _ENTRY_POINTS):
    pytest_plugins = ["jetplug.testing"]

_SHARED = Path(
    os.environ.get(
        "JETPLUG_SHARED_DATA", Path(__file__).resolve().parent.parent / "shared" / "data"
    )
)
if _SHARED.is_dir():
    os.environ.setdefault("JETPLUG_DATA", str(_SHARED))
