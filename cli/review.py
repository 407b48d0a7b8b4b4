"""`mllmcl review`: people look at bundle versions in the registry and promote or reject them."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from cli.output import console, errors
from components.registry.models import bundle_model_name
from components.registry.promotion import (
    GATES_TAG,
    HISTORY_TAG,
    VERDICT_TAG,
    aliases_by_version,
    approve,
    candidates,
    history,
    registered_version,
    reject,
)
from components.registry.tracking import configure_tracking
from components.settings import get_settings

review_app = typer.Typer(no_args_is_help=True, help="Review bundle versions in the registry.")
BenchmarkOption = Annotated[str, typer.Option(help="whose bundle")]


def _name(benchmark: str) -> str:
    configure_tracking(get_settings())
    return bundle_model_name(benchmark)


@review_app.command("list")
def list_versions(benchmark: BenchmarkOption = "domain") -> None:
    """Every bundle version, newest first, with its aliases, verdict and gates."""
    name = _name(benchmark)
    aliases = aliases_by_version(name)
    table = Table(title=name)
    for column in ("version", "aliases", "verdict", "new task", "experts", "gates"):
        table.add_column(column)
    versions = candidates(name)
    for version in versions:
        table.add_row(
            str(version.version),
            ", ".join(aliases.get(str(version.version), [])),
            version.tags.get(VERDICT_TAG, ""),
            version.tags.get("new_task", ""),
            version.tags.get("experts", ""),
            version.tags.get(GATES_TAG, ""),
        )
    console.print(table if versions else f"no versions of {name} are registered yet")


def _fail(error: Exception) -> None:
    errors.print(f"[red]{error}[/]")
    raise typer.Exit(2)


@review_app.command("show")
def show(version: str, benchmark: BenchmarkOption = "domain") -> None:
    """One version: its description (gates table) and tags."""
    name = _name(benchmark)
    try:
        found = registered_version(name, version)
    except ValueError as error:
        _fail(error)
    aliases = ", ".join(aliases_by_version(name).get(version, [])) or "none"
    console.print(f"{name} v{version} (aliases: {aliases})\n\n{found.description}\n")
    for key, value in sorted(found.tags.items()):
        if not key.startswith(HISTORY_TAG):
            console.print(f"  {key}: {value}")
    console.print("verdicts, oldest first:")
    for entry in history(found):
        console.print(f"  {entry}")


@review_app.command("approve")
def approve_version(
    version: str,
    benchmark: BenchmarkOption = "domain",
    reviewer: Annotated[str | None, typer.Option(help="who approves")] = None,
    reason: Annotated[str, typer.Option(help="why (required with --force)")] = "",
    force: Annotated[
        bool, typer.Option(help="promote a version that failed its gates or was rejected")
    ] = False,
) -> None:
    """Make VERSION the champion (the old champion keeps previous-champion)."""
    name = _name(benchmark)
    try:
        approve(name, version, reviewer or getpass.getuser(), reason, force)
    except ValueError as error:
        _fail(error)
    console.print(f"{name} v{version} is the champion")


@review_app.command("reject")
def reject_version(
    version: str,
    benchmark: BenchmarkOption = "domain",
    reviewer: Annotated[str | None, typer.Option(help="who rejects")] = None,
    reason: Annotated[str, typer.Option(help="why")] = "",
) -> None:
    """Tag VERSION rejected and clear its challenger alias."""
    name = _name(benchmark)
    try:
        reject(name, version, reviewer or getpass.getuser(), reason)
    except ValueError as error:
        _fail(error)
    console.print(f"{name} v{version} is rejected")
