"""Tables as fixed-width text: aligned wherever they are shown in a monospace block (MLflow's
descriptions render Markdown tables without cell padding)."""

from __future__ import annotations

from collections.abc import Sequence


def aligned(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """`rows` (the first a header) in padded columns; `right[i]`: column i aligns right. The
    last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(right))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def markdown_as_text(table: str) -> str:
    """A Markdown table (header, `---` rule, rows) as aligned text, its right-aligned (`---:`)
    columns kept right."""
    lines = [line.strip().strip("|").split("|") for line in table.strip().splitlines()]
    header, rule, *body = [[cell.strip() for cell in line] for line in lines]
    right = [cell.endswith(":") for cell in rule]
    return aligned([header, *body], right)
