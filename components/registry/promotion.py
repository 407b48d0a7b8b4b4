"""Aliases of the bundle model (docs/operations.md): a new version becomes `challenger`; when
every gate passes and no review is required it becomes `champion` and the old champion keeps
`previous-champion`. People approve or reject challengers. Gate values and verdicts, the
accuracies and the data version live on each version (tags and description)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from components.registry.gates import GateResult

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous-champion"
ACCURACY_TAG = "accuracy."  # + task: accuracy under this version
LEARNED_TAG = "learned."  # + task: A[j][j], the accuracy when the task was learned
GATE_TAG = "gate."  # + gate name: "pass: 74.00 vs 50 (...)"
VERDICT_TAG = "verdict"  # the latest: promoted | challenger | approved | rejected
GATES_PASSED_TAG = "gates_passed"  # "true" | "false": the gates' verdict, never changed
HISTORY_TAG = "verdict."  # + n: every verdict in order, "<verdict> by <who> at <when>: <why>"


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


def version_tags(
    accuracies: Mapping[str, float],
    learned: Mapping[str, float],
    gates: Sequence[GateResult],
) -> dict[str, str]:
    tags = {f"{ACCURACY_TAG}{t}": f"{v:.2f}" for t, v in accuracies.items()}
    tags |= {f"{LEARNED_TAG}{t}": f"{v:.2f}" for t, v in learned.items()}
    tags |= {f"{GATE_TAG}{g.name}": g.summary() for g in gates}
    tags[GATES_PASSED_TAG] = str(all(g.passed for g in gates)).lower()
    return tags


def gates_markdown(gates: Sequence[GateResult]) -> str:
    rows = [
        f"| {g.name} | {'n/a' if g.value is None else f'{g.value:.2f}'} | {g.threshold:g} | "
        f"{'pass' if g.passed else 'FAIL'} | {g.detail} |"
        for g in gates
    ]
    return "\n".join(
        [
            "| gate | value | threshold | verdict | detail |",
            "| --- | ---: | ---: | --- | --- |",
            *rows,
        ]
    )


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
    """Set the version's verdict and append it to its history (earlier verdicts are kept)."""
    client = MlflowClient()
    found = client.get_model_version(name, version)
    count = sum(1 for key in found.tags if key.startswith(HISTORY_TAG))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    entry = f"{verdict} by {by} at {when}" + (f": {reason}" if reason else "")
    client.set_model_version_tag(name, version, f"{HISTORY_TAG}{count + 1}", entry)
    client.set_model_version_tag(name, version, VERDICT_TAG, verdict)


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
