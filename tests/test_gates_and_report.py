"""Gates and the benchmark report, as plain functions."""

import json

import pytest

from components.evaluation.report import (
    BenchmarkResults,
    comparison_table,
    method_result,
    write_combined_report,
    write_report,
)
from components.registry.gates import GateThresholds, learned_accuracies, run_gates

THRESHOLDS = GateThresholds(new_task_floor=50, router_floor=90, old_task_tolerance=5, bwt_floor=-5)


def _by_name(gates):
    return {g.name: g for g in gates}


def test_gates_pass_on_a_good_candidate():
    gates = _by_name(
        run_gates(
            {"RS": 80, "Med": 90},
            router_accuracy=97,
            new_task="Med",
            champion={"RS": 82},
            learned_before={"RS": 84},
            thresholds=THRESHOLDS,
            zero_shot=20,
        )
    )
    assert all(g.passed for g in gates.values())
    assert gates["new_task"].value == 90
    assert gates["new_task_gain"].value == 70  # 90 against the base's 20
    assert gates["old_tasks"].value == 2  # RS is 2 points below the champion
    assert gates["bwt"].value == -4  # RS: 80 now, 84 when learned


@pytest.mark.parametrize(
    ("accuracies", "router", "zero_shot", "failing"),
    [
        ({"RS": 80, "Med": 40}, 97, 20, "new_task"),
        ({"RS": 80, "Med": 60}, 97, 55, "new_task_gain"),  # above the floor, barely above base
        ({"RS": 80, "Med": 90}, 97, None, "new_task_gain"),  # the gain was not measured
        ({"RS": 80, "Med": 90}, 85, 20, "router"),
        ({"RS": 70, "Med": 90}, 97, 20, "old_tasks"),
    ],
)
def test_each_gate_fails_on_its_own(accuracies, router, zero_shot, failing):
    gates = _by_name(
        run_gates(accuracies, router, "Med", {"RS": 76}, {"RS": 72}, THRESHOLDS, zero_shot)
    )
    assert {name for name, g in gates.items() if not g.passed} == {failing}


def test_no_drop_below_the_champion_is_not_called_a_drop():
    # 200/3 now; the champion's tag holds 66.67
    gates = _by_name(
        run_gates({"RS": 200 / 3, "Med": 90}, 99, "Med", {"RS": 66.67}, {}, THRESHOLDS, 0)
    )
    assert gates["old_tasks"].passed and "no task below" in gates["old_tasks"].detail


def test_backward_transfer_gate_and_the_first_task():
    gates = _by_name(run_gates({"RS": 60, "Med": 90}, 99, "Med", {}, {"RS": 70}, THRESHOLDS, 0))
    assert not gates["bwt"].passed and gates["bwt"].value == -10
    assert gates["old_tasks"].passed and gates["old_tasks"].value is None  # no champion yet
    first = _by_name(run_gates({"RS": 70}, 100, "RS", {}, {}, THRESHOLDS, 10))
    assert all(g.passed for g in first.values()) and first["bwt"].value is None
    assert first["bwt"].summary().startswith("pass: n/a")


def test_learned_accuracy_is_kept_from_when_a_task_was_learned():
    assert learned_accuracies({"RS": 60, "Med": 90}, {"RS": 75}) == {"RS": 75, "Med": 90}


def test_report_holds_the_matrix_metrics_and_the_paper_table(tmp_path):
    tasks = ["RS", "Med"]
    mr = method_result(tasks, [{"RS": 80, "Med": 10}, {"RS": 78, "Med": 90}], [100.0, 98.0])
    ft = method_result(tasks, [{"RS": 80, "Med": 10}, {"RS": 40, "Med": 92}])
    assert (mr.MFT, mr.MFN, mr.BWT) == (85, 84, -2)
    assert ft.BWT == -40 and pytest.approx((80 + 66) / 2) == ft.MAA
    results = BenchmarkResults(
        benchmark="domain",
        tasks=tasks,
        methods={"mr-lora": mr, "lora-ft": ft},
        oracle={"RS": 80, "Med": 91},
        zero_shot={"RS": 20, "Med": 30},
        timings={"mr-lora": 1.5},
        champion="2",
    )
    table = comparison_table(results)
    # FWT: Med scored 10 before it was learned, the base alone 30
    assert "| mr-lora | 78.00 | 90.00 | 85.00 | 84.00 | 82.00 | -2.00 | -20.00 |" in table
    assert "| Oracle | 80.00 | 91.00 | - | 85.50 | - | - | - |" in table
    assert (mr.forgetting, ft.forgetting) == ([2], [40])
    files = write_report(results, tmp_path)
    assert {f.name for f in files} == {
        "results.json",
        "report.md",
        "matrix-mr-lora.png",
        "matrix-lora-ft.png",
        "forgetting.png",
    }
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["mr-lora"]["matrix"] == [[80, 10], [78, 90]]
    assert data["mr-lora"]["router_accuracy"] == [100.0, 98.0]
    assert data["lora-ft"]["forgetting"] == [40]
    assert data["oracle"] == {"RS": 80, "Med": 91} and data["champion"] == "2"
    assert "![forgetting](forgetting.png)" in (tmp_path / "report.md").read_text()


def test_every_track_on_one_page_from_the_tracks_results(tmp_path):
    for track, tasks in (("domain", ["RS", "Med"]), ("ability", ["OCR", "VP"])):
        results = BenchmarkResults(
            benchmark=track,
            tasks=tasks,
            methods={
                "mr-lora": method_result(
                    tasks, [{tasks[0]: 70, tasks[1]: 5}, {tasks[0]: 68, tasks[1]: 88}], [100, 95]
                )
            },
            oracle=dict.fromkeys(tasks, 90.0),
            zero_shot=dict.fromkeys(tasks, 10.0),
            timings={"mr-lora": 60.0},
        )
        write_report(results, tmp_path / track)
        again = BenchmarkResults.from_json(
            json.loads((tmp_path / track / "results.json").read_text())
        )
        assert again == results
    page = write_combined_report(tmp_path).read_text()
    assert page.index("## domain") < page.index("## ability")  # the paper's order
    assert (
        "| mr-lora | 68.00 | 88.00 |" in page and "[ability/report.md](ability/report.md)" in page
    )
    assert "Router accuracy after each step (%): 100.0, 95.0" in page and "BWT (" in page
