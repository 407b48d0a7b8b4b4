"""Aliases and verdicts of bundle versions in a real (sqlite) MLflow registry: the gates' verdict,
a reviewer's approval or rejection, and what neither may do."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from components.registry.gates import GateResult
from components.registry.promotion import (
    GATES_PASSED_TAG,
    VERDICT_TAG,
    aliases_by_version,
    approve,
    candidates,
    decide,
    history,
    registered_version,
    reject,
)
from components.registry.tracking import configure_tracking

NAME = "mllmcl-test-bundle"
PASS = GateResult(name="router", value=99.0, threshold=90, passed=True, detail="")
FAIL = GateResult(name="bwt", value=-9.0, threshold=-5, passed=False, detail="")


@pytest.fixture
def registry(settings, tmp_path):
    configure_tracking(settings)
    client = MlflowClient()
    client.create_registered_model(NAME)

    def register(gates: list[GateResult]) -> str:
        passed = str(all(g.passed for g in gates)).lower()
        version = client.create_model_version(NAME, str(tmp_path), tags={GATES_PASSED_TAG: passed})
        return str(version.version)

    return register


def test_versions_that_pass_are_promoted_and_the_old_champion_is_kept(registry):
    first = registry([PASS])
    assert decide(NAME, first, [PASS], require_review=False) == "promoted"
    second = registry([PASS])
    assert decide(NAME, second, [PASS], require_review=False) == "promoted"
    assert aliases_by_version(NAME) == {"2": ["champion"], "1": ["previous-champion"]}
    assert [str(v.version) for v in candidates(NAME)] == ["2", "1"]
    assert history(registered_version(NAME, "2"))[0].startswith("promoted by the gates at ")


def test_a_failed_gate_or_a_required_review_leaves_a_challenger(registry):
    champion = registry([PASS])
    decide(NAME, champion, [PASS], require_review=False)
    failed = registry([PASS, FAIL])
    assert decide(NAME, failed, [PASS, FAIL], require_review=False) == "challenger"
    assert "gates failed: bwt" in history(registered_version(NAME, failed))[0]
    reviewed = registry([PASS])
    assert decide(NAME, reviewed, [PASS], require_review=True) == "challenger"
    assert aliases_by_version(NAME) == {champion: ["champion"], reviewed: ["challenger"]}


def test_people_approve_and_reject_with_reasons_on_record(registry):
    champion = registry([PASS])
    decide(NAME, champion, [PASS], require_review=False)
    failed = registry([FAIL])
    decide(NAME, failed, [FAIL], require_review=False)

    with pytest.raises(ValueError, match=r"failed its gates.*--force"):
        approve(NAME, failed, "ana")
    with pytest.raises(ValueError, match="is the champion"):
        reject(NAME, champion, "ana", "no")
    with pytest.raises(ValueError, match="v9"):
        approve(NAME, "9", "ana")

    approve(NAME, failed, "ana", "checked by hand", force=True)
    assert aliases_by_version(NAME) == {failed: ["champion"], champion: ["previous-champion"]}
    version = registered_version(NAME, failed)
    assert version.tags[VERDICT_TAG] == "approved" and version.tags[GATES_PASSED_TAG] == "false"
    assert "forced over: it failed its gates; checked by hand" in history(version)[-1]

    reject(NAME, champion, "bo", "stale")
    assert registered_version(NAME, champion).tags[VERDICT_TAG] == "rejected"
    with pytest.raises(ValueError, match="was rejected"):
        approve(NAME, champion, "ana")
