"""Aliases of the bundle model (docs/operations.md): a new version becomes `challenger`; when
every gate passes and no review is required it becomes `champion` and the old champion keeps
`previous-champion`. People approve or reject challengers. Each version carries what a reviewer
filters on as tags (accuracies, whether the gates passed, the verdict and its history, the data
version), a description that opens with its verdict line and shows the gate table, and the full
gate record (every gate, the accuracies, each task's accuracy when learned) as `gates.json` in
the run that registered it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from components.registry.gates import GateResult
from components.text_table import aligned

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"
ACCURACY_TAG = "accuracy."  # + task: accuracy under this version
VERDICT_TAG = "verdict"  # the latest: promoted | challenger | approved | rejected
GATES_PASSED_TAG = "gates_passed"  # "true" | "false": the gates' verdict, never changed
GATES_TAG = "gates"  # "5/5 passed" or "4/5 passed, failed: router"
HISTORY_TAG = "verdict."  # + n: every verdict in order, "<verdict> by <who> at <when>: <why>"
GATE_RECORD = "gates.json"
LEGACY_LEARNED_TAG = "learned."  # + task: A[j][j] on versions registered before gate records
VERDICT_LINE = "Verdict: "  # how a version's description opens
OUTCOMES = {
    "promoted": "champion",
    "approved": "champion",
    "challenger": "challenger",
    "rejected": "rejected",
}


class GateRecord(BaseModel):
    """Everything the gates of a version saw and said."""

    gates: list[GateResult]
    accuracies: dict[str, float]  # per seen task, under this version
    learned: dict[str, float]  # per seen task: A[j][j], its accuracy when it was learned
    router_accuracy: float | None
    zero_shot: float | None  # the base alone on the new task


def log_gate_record(record: GateRecord) -> None:
    """Into the active run (the one that registers the version)."""
    mlflow.log_dict(record.model_dump(mode="json"), GATE_RECORD)


def gate_record(version: ModelVersion | None) -> GateRecord | None:
    """The record logged beside a version; None for none (or one registered before records)."""
    if version is None or not version.run_id:
        return None
    try:
        loaded = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/{GATE_RECORD}")
    except (OSError, MlflowException):
        return None
    return GateRecord.model_validate(loaded)


def aliased(name: str, alias: str) -> ModelVersion | None:
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def tagged_figures(version: ModelVersion | None, prefix: str) -> dict[str, float]:
    if version is None:
        return {}
    return {
        key.removeprefix(prefix): float(value)
        for key, value in version.tags.items()
        if key.startswith(prefix)
    }


def gates_summary(gates: Sequence[GateResult]) -> str:
    """`5/5 passed`, or `4/5 passed, failed: router`."""
    failed = [g.name for g in gates if not g.passed]
    summary = f"{len(gates) - len(failed)}/{len(gates)} passed"
    return summary + (f", failed: {', '.join(failed)}" if failed else "")


def version_tags(accuracies: Mapping[str, float], gates: Sequence[GateResult]) -> dict[str, str]:
    """What a reviewer filters versions on: each task's accuracy and the gates' outcome."""
    tags = {f"{ACCURACY_TAG}{t}": f"{v:.2f}" for t, v in accuracies.items()}
    tags[GATES_PASSED_TAG] = str(all(g.passed for g in gates)).lower()
    tags[GATES_TAG] = gates_summary(gates)
    return tags


def gates_table(gates: Sequence[GateResult]) -> str:
    """The gates as a fixed-width table in a code block: aligned wherever it is shown."""
    rows = [("gate", "value", "threshold", "verdict", "detail")]
    rows += [
        (
            g.name,
            "n/a" if g.value is None else f"{g.value:.2f}",
            f"{g.threshold:g}",
            "pass" if g.passed else "FAIL",
            g.detail,
        )
        for g in gates
    ]
    return "\n".join(["```text", aligned(rows, [False, True, True, False, False]), "```"])


def _crown(name: str, version: str) -> None:
    client = MlflowClient()
    current = aliased(name, CHAMPION)
    if current is not None and str(current.version) == str(version):
        return
    if current is not None:
        client.set_registered_model_alias(name, PREVIOUS, str(current.version))
    client.set_registered_model_alias(name, CHAMPION, version)
    challenger = aliased(name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)


def _record(name: str, version: str, verdict: str, by: str, reason: str = "") -> None:
    """Set the version's verdict, append it to its history (earlier verdicts are kept) and
    open its description with it."""
    client = MlflowClient()
    found = client.get_model_version(name, version)
    count = sum(1 for key in found.tags if key.startswith(HISTORY_TAG))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    entry = f"{verdict} by {by} at {when}" + (f": {reason}" if reason else "")
    client.set_model_version_tag(name, version, f"{HISTORY_TAG}{count + 1}", entry)
    client.set_model_version_tag(name, version, VERDICT_TAG, verdict)
    gates = found.tags.get(GATES_TAG, "gates " + found.tags.get(GATES_PASSED_TAG, "unknown"))
    line = f"{VERDICT_LINE}{gates} -> {OUTCOMES[verdict]} ({entry})"
    body = found.description or ""
    if body.startswith(VERDICT_LINE):  # the verdict before this one
        body = body.partition("\n\n")[2]
    client.update_model_version(name, version, description=f"{line}\n\n{body}")


def history(version: ModelVersion) -> list[str]:
    """The verdicts of a version, oldest first."""
    entries = [key for key in version.tags if key.startswith(HISTORY_TAG)]
    entries.sort(key=lambda key: int(key.removeprefix(HISTORY_TAG)))
    return [version.tags[key] for key in entries]


def decide(name: str, version: str, gates: Sequence[GateResult], require_review: bool) -> str:
    """Move the aliases for a freshly registered version; returns the verdict."""
    client = MlflowClient()
    passed = all(g.passed for g in gates)
    if passed and not require_review:
        _crown(name, version)
        verdict = "promoted"
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
        verdict = "challenger"
    failed = ", ".join(g.name for g in gates if not g.passed)
    reason = f"gates failed: {failed}" if failed else "every gate passed"
    _record(
        name,
        version,
        verdict,
        "the gates",
        reason + (", review required" if passed and require_review else ""),
    )
    return verdict


def candidates(name: str) -> list[ModelVersion]:
    """Every version, newest first (aliases and verdicts are on them); none for a store that
    cannot list them."""
    try:
        return MlflowClient().search_model_versions(
            f"name = '{name}'", order_by=["version_number DESC"]
        )
    except MlflowException:
        return []


def approve(name: str, version: str, reviewer: str, reason: str = "", force: bool = False) -> None:
    """A person promotes a version. One that failed its gates or was rejected needs `force` and
    a reason: the override is recorded beside the gates' verdict, which stays."""
    found = registered_version(name, version)
    objections = []
    if found.tags.get(GATES_PASSED_TAG) == "false":
        objections.append("it failed its gates")
    if found.tags.get(VERDICT_TAG) == "rejected":
        objections.append("it was rejected")
    if objections and not (force and reason.strip()):
        raise ValueError(
            f"{name} v{version}: {' and '.join(objections)}; to promote it anyway, approve with "
            "--force and a --reason"
        )
    _crown(name, version)
    why = reason.strip() or "approved"
    if objections:
        why = f"forced over: {' and '.join(objections)}; {why}"
    _record(name, version, "approved", reviewer, why)


def reject(name: str, version: str, reviewer: str, reason: str) -> None:
    """A person rejects a version: recorded, and no longer the challenger (never the champion)."""
    registered_version(name, version)  # a clear error for an unknown one
    client = MlflowClient()
    champion = aliased(name, CHAMPION)
    if champion is not None and str(champion.version) == str(version):
        raise ValueError(f"{name} v{version} is the champion: approve another version first")
    challenger = aliased(name, CHALLENGER)
    if challenger is not None and str(challenger.version) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)
    _record(name, version, "rejected", reviewer, reason)


def aliases_by_version(name: str) -> dict[str, list[str]]:
    """Each version's aliases; nothing for a model not registered (yet)."""
    try:
        aliases = MlflowClient().get_registered_model(name).aliases
    except MlflowException:
        return {}
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    return by_version


def registered_version(name: str, version: str) -> ModelVersion:
    """One version, or a ValueError that names it."""
    try:
        return MlflowClient().get_model_version(name, version)
    except MlflowException as error:
        raise ValueError(f"{name} v{version}: {error.message}") from None
