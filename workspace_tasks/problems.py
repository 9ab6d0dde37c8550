"""One problem found by a check: where it is and what is wrong."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """A problem in a file (position optional) with its severity.

    ``str()`` gives the one-line form ``file:line:column: message``.
    """

    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        label = "" if self.severity == "error" else f"{self.severity}: "
        return self.located(f"{label}{self.message}")

    def located(self, text: str | None = None) -> str:
        """Return ``file:line:column: text`` (the message without a severity)."""
        where = [str(p) for p in (self.file, self.line, self.column) if p is not None]
        prefix = ":".join(where)
        text = self.message if text is None else text
        return f"{prefix}: {text}" if prefix else text

    def to_dict(self) -> dict:
        return asdict(self)
