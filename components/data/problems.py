"""Validation problems: each names the file, the record and the field it is about."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    file: Path
    message: str
    record: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [str(self.file)]
        if self.record is not None:
            parts.append(f"record {self.record}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        return ": ".join([*parts, self.message])


class SourceValidationError(ValueError):
    """The source has problems; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the source; nothing was written:\n{lines}")
