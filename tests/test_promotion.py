"""Aliases and verdicts of bundle versions in a real (sqlite) MLflow registry: the gates' verdict,
a reviewer's approval or rejection, and what neither may do."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from components.registry.gates import GateResult
from components.registry.model_card import model_card
from components.registry.promotion import (
    GATES_PASSED_TAG,
    VERDICT_TAG,
    aliases_by_version,
    approve,
    candidates,
    decide,
    gates_summary,
    gates_table,
    history,
    registered_version,
    reject,
)
from components.registry.tracking import configure_tracking
from components.settings import get_settings
from tests.conftest import project_home

PASS = GateResult(name="router", value=99.0, threshold=90, passed=True, detail="")
FAIL = GateResult(name="bwt", value=-9.0, threshold=-5, passed=False, detail="")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One MLflow store for the module (made once: a store's tables take seconds to create)."""
    with (
        pytest.MonkeyPatch.context() as patch,
        project_home(tmp_path_factory.mktemp("registry"), patch),
    ):
        configure_tracking(get_settings())
        yield tmp_path_factory.mktemp("model")


@pytest.fixture
def registry(store, request):
    """A registered model of this test's own, and a way to register versions of it."""
    name = f"mllmcl-{request.node.name.replace('_', '-')}"
    client = MlflowClient()
    client.create_registered_model(name)

    def register(gates: list[GateResult]) -> str:
        passed = str(all(g.passed for g in gates)).lower()
        version = client.create_model_version(name, str(store), tags={GATES_PASSED_TAG: passed})
        return str(version.version)

    return name, register


def test_versions_that_pass_are_promoted_and_the_old_champion_is_kept(registry):
    name, register = registry
    first = register([PASS])
    assert decide(name, first, [PASS], require_review=False) == "promoted"
    second = register([PASS])
    assert decide(name, second, [PASS], require_review=False) == "promoted"
    assert aliases_by_version(name) == {"2": ["champion"], "1": ["previous-champion"]}
    assert [str(v.version) for v in candidates(name)] == ["2", "1"]
    assert history(registered_version(name, "2"))[0].startswith("promoted by the gates at ")


def test_a_failed_gate_or_a_required_review_leaves_a_challenger(registry):
    name, register = registry
    champion = register([PASS])
    decide(name, champion, [PASS], require_review=False)
    failed = register([PASS, FAIL])
    assert decide(name, failed, [PASS, FAIL], require_review=False) == "challenger"
    assert "gates failed: bwt" in history(registered_version(name, failed))[0]
    reviewed = register([PASS])
    assert decide(name, reviewed, [PASS], require_review=True) == "challenger"
    assert aliases_by_version(name) == {champion: ["champion"], reviewed: ["challenger"]}


def test_people_approve_and_reject_with_reasons_on_record(registry):
    name, register = registry
    champion = register([PASS])
    decide(name, champion, [PASS], require_review=False)
    failed = register([FAIL])
    decide(name, failed, [FAIL], require_review=False)

    with pytest.raises(ValueError, match=r"failed its gates.*--force"):
        approve(name, failed, "ana")
    with pytest.raises(ValueError, match="is the champion"):
        reject(name, champion, "ana", "no")
    with pytest.raises(ValueError, match="v9"):
        approve(name, "9", "ana")

    approve(name, failed, "ana", "checked by hand", force=True)
    assert aliases_by_version(name) == {failed: ["champion"], champion: ["previous-champion"]}
    version = registered_version(name, failed)
    assert version.tags[VERDICT_TAG] == "approved" and version.tags[GATES_PASSED_TAG] == "false"
    assert "forced over: it failed its gates; checked by hand" in history(version)[-1]

    reject(name, champion, "bo", "stale")
    assert registered_version(name, champion).tags[VERDICT_TAG] == "rejected"
    with pytest.raises(ValueError, match="was rejected"):
        approve(name, champion, "ana")


def test_a_model_card_states_the_adapter_s_origin_recipe_and_accuracy():
    card = model_card(
        "mllmcl-domain-expert-RS",
        "MR-LoRA expert for RS: remote sensing",
        {"task": "RS", "base": "tiny@abc", "adapter": {"rank": 16, "train": {"lr": 0.003}}},
        {"test_accuracy": 58.333333},
    )
    assert card.startswith("---\nlibrary_name: peft\n")
    assert "# mllmcl-domain-expert-RS\n\nMR-LoRA expert for RS: remote sensing" in card
    for row in ("| task | RS |", "| base | tiny@abc |", "| adapter.rank | 16 |"):
        assert row in card
    assert "| adapter.train.lr | 0.003 |" in card and "| test_accuracy | 58.3333 |" in card
    assert "More Information Needed" not in card


def test_gates_as_an_aligned_table_and_a_summary():
    gates = [PASS, FAIL.model_copy(update={"value": None, "detail": "over 0 tasks"})]
    assert gates_summary(gates) == "1/2 passed, failed: bwt"
    lines = gates_table(gates).splitlines()
    assert lines[0] == "```text" and lines[-1] == "```"
    assert lines[1:-1] == [
        "gate    value  threshold  verdict  detail",
        "router  99.00         90  pass",
        "bwt       n/a         -5  FAIL     over 0 tasks",
    ]
