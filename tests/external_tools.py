"""Tests that run programs other than Python: skipped where those are missing.

``make test`` must pass on a machine with only Python and make. A program
named in ``WORKSPACE_TESTS_REQUIRE`` (space or comma separated, set where CI
installs it) is required instead: its absence fails the test, so a broken
installation is never hidden by a skip.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_VARIABLE = "WORKSPACE_TESTS_REQUIRE"


def required_programs(environ: dict[str, str] | None = None) -> set[str]:
    """Return the programs the environment says must be present."""
    text = (os.environ if environ is None else environ).get(REQUIRE_VARIABLE, "")
    return set(text.replace(",", " ").split())


def missing_programs(*programs: str) -> list[str]:
    """Return those of ``programs`` not on PATH and not required."""
    required = required_programs()
    return [p for p in programs if shutil.which(p) is None and p not in required]


def needs(*programs: str) -> pytest.MarkDecorator:
    """Mark a test to be skipped when one of ``programs`` is not on PATH."""
    missing = missing_programs(*programs)
    return pytest.mark.skipif(
        bool(missing), reason=f"needs {', '.join(missing)} on PATH"
    )
