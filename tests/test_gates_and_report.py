"""Gates and the benchmark report, as plain functions."""

import base64
import json

import pytest

from components.evaluation.costs import StepCost
from components.evaluation.expectations import reading_against_papers
from components.evaluation.html_report import markdown_page
from components.evaluation.report import (
    BenchmarkResults,
    comparison_table,
    cost_table,
    forgetting_reading,
    kinds_table,
    method_result,
    runs_table,
    write_combined_report,
    write_report,
)
from components.evaluation.routed import Evaluation, TaskScore
from components.evaluation.routers import router_kind_result
from components.registry.gates import GateThresholds, learned_accuracies, run_gates
from components.text_table import markdown_as_text

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
        "report.html",
        "matrix-mr-lora.png",
        "matrix-lora-ft.png",
        "forgetting.png",
    }
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["mr-lora"]["matrix"] == [[80, 10], [78, 90]]
    assert data["mr-lora"]["router_accuracy"] == [100.0, 98.0]
    assert data["lora-ft"]["forgetting"] == [40]
    assert data["oracle"] == {"RS": 80, "Med": 91} and data["champion"] == "2"
    report = (tmp_path / "report.md").read_text()
    assert "![forgetting](forgetting.png)" in report
    assert "- **BWT**: mean change on the earlier tasks" in report
    # the same report as one page that shows anywhere: tables rendered, plots inline
    page = (tmp_path / "report.html").read_text()
    assert "<th>Method</th>" in page and "<td>mr-lora</td>" in page
    forgetting = base64.b64encode((tmp_path / "forgetting.png").read_bytes()).decode()
    assert f'src="data:image/png;base64,{forgetting}"' in page
    assert page.count("data:image/png;base64,") == 3 and "forgetting.png" not in page


def test_a_markdown_table_as_aligned_text():
    table = "| Method | RS | BWT |\n| --- | ---: | ---: |\n"
    table += "| mr-lora | 8.00 | -2.00 |\n| x | 90.00 | - |"
    assert markdown_as_text(table).splitlines() == [
        "Method      RS    BWT",
        "mr-lora   8.00  -2.00",
        "x        90.00      -",
    ]


def test_the_report_page_shows_raw_html_in_its_text_as_text(tmp_path):
    page = markdown_page("# <script>alert(1)</script>\n\n![x](missing.png)", tmp_path, "a<b")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<title>a&lt;b</title>" in page and 'src="missing.png"' in page


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
    assert "Router accuracy after each step (%): 100.0, 95.0" in page and "- **BWT**: " in page


def test_several_runs_give_mean_and_spread_and_the_costs_and_forgetting_are_read(tmp_path):
    def run(order, rows, seed, seconds):
        cost = StepCost(
            train_seconds=seconds,
            trainable_parameters=2_000_000,
            stored_bytes=4_000_000,
            seconds_per_item=0.05,
        )
        return method_result(order, rows, costs=[cost, cost], seed=seed)

    first = run(["RS", "Med"], [{"RS": 80, "Med": 10}, {"RS": 40, "Med": 90}], 0, 30.0)
    # the other order: Med first, then RS; Med forgotten this time
    second = run(["Med", "RS"], [{"Med": 90, "RS": 10}, {"Med": 70, "RS": 80}], 0, 90.0)
    results = BenchmarkResults(
        benchmark="domain",
        tasks=["RS", "Med"],
        methods={"lora-ft": first},
        runs={"lora-ft": [first, second]},
        oracle={"RS": 80, "Med": 91},
        zero_shot={"RS": 20, "Med": 30},
        timings={},
    )
    table = comparison_table(results)
    # final RS: 40 and 80; final Med: 90 and 70; MFT 85 both; BWT -40 and -20
    row = next(line for line in table.splitlines() if line.startswith("| lora-ft"))
    assert row.startswith("| lora-ft (2 runs) | 60.00 ± 28.28 | 80.00 ± 14.14 | 85.00 ± 0.00 |")
    assert "-30.00 ± 14.14" in row
    costs = cost_table(results)
    # 2 steps x 30 s and 2 x 90 s: 2 min on average; 4 MB kept over 2 tasks; 50 ms per item
    assert "| lora-ft | 2.0 | 2.00 | 2.00 | 50 |" in costs
    reading = forgetting_reading(results)
    assert reading == [
        "- lora-ft: forgets most on RS (40.0 points below its best since learned); "
        "30.0 points on average over the earlier tasks."
    ]
    assert "| lora-ft | Med -> RS | 0 |" in runs_table(results)
    # a method whose earlier tasks end above their best before: no negative "forgetting"
    gaining = method_result(
        ["RS", "Med", "AD"],
        [
            {"RS": 50, "Med": 0, "AD": 0},
            {"RS": 46, "Med": 40, "AD": 0},
            {"RS": 48, "Med": 60, "AD": 70},
        ],
    )  # RS: 50 -> 48 (2 below its best); Med: 40 -> 60 (-20): -9 on average
    gains = results.model_copy(update={"methods": {"replay": gaining}, "runs": {}})
    assert forgetting_reading(gains) == [
        "- replay: forgets most on RS (2.0 points below its best since learned); on average the "
        "earlier tasks end 9.0 points above their best before."
    ]
    write_report(results, tmp_path)
    again = BenchmarkResults.from_json(json.loads((tmp_path / "results.json").read_text()))
    assert again.runs_of("lora-ft") == [first, second]
    report = (tmp_path / "report.md").read_text()
    assert "## Runs (task order and seed)" in report and "## Cost" in report


def test_question_kinds_are_tabled_for_the_tasks_that_have_several():
    rows = [{"OCR": 50.0, "Math": 20.0}, {"OCR": 40.0, "Math": 60.0}]
    runs = [
        method_result(["OCR", "Math"], rows, kinds={"OCR": {"number": 30.0, "word": 50.0}}),
        method_result(["OCR", "Math"], rows, kinds={"OCR": {"number": 50.0, "word": 50.0}}),
    ]
    results = BenchmarkResults(
        benchmark="ability",
        tasks=["OCR", "Math"],
        methods={"lora-ft": runs[0]},
        runs={"lora-ft": runs},
        oracle={"OCR": 80, "Math": 70},
        zero_shot={"OCR": 10, "Math": 10},
        timings={},
    )
    assert kinds_table(results) == (
        "| Method | OCR: number | OCR: word |\n| --- | ---: | ---: |\n"
        "| lora-ft | 40.00 ± 14.14 | 50.00 ± 0.00 |"
    )
    assert kinds_table(results.model_copy(update={"runs": {}, "methods": {}})) is None


def test_the_report_reads_each_method_against_what_its_paper_reports():
    tasks = ["RS", "Med"]
    ft = method_result(tasks, [{"RS": 80, "Med": 10}, {"RS": 40, "Med": 90}])  # BWT -40
    olora = method_result(tasks, [{"RS": 80, "Med": 10}, {"RS": 30, "Med": 90}])  # BWT -50
    ewc = method_result(tasks, [{"RS": 80, "Med": 10}, {"RS": 70, "Med": 85}])  # BWT -10
    mr = method_result(tasks, [{"RS": 80, "Med": 10}, {"RS": 80, "Med": 90}])  # BWT 0
    results = BenchmarkResults(
        benchmark="domain",
        tasks=tasks,
        methods={"mr-lora": mr, "lora-ft": ft, "o-lora": olora, "ewc": ewc},
        oracle={"RS": 80, "Med": 90},
        zero_shot={"RS": 10, "Med": 10},
        timings={},
    )
    lines = reading_against_papers(results)
    assert lines[0].startswith("- mr-lora: as published") and "BWT 0.0, MFN 85.0" in lines[0]
    assert lines[1].startswith("- o-lora: departs from what is published")
    assert "Likely cause here: the later tasks' LoRAs" in lines[1]
    assert lines[2].startswith("- ewc: as published") and len(lines) == 3  # LoRA-FT: the reference


def test_a_method_that_learns_every_task_at_once_shows_its_final_row_only(tmp_path):
    tasks = ["RS", "Med", "AD"]
    cost = StepCost(
        train_seconds=120.0,
        trainable_parameters=1_000_000,
        stored_bytes=3_000_000,
        seconds_per_item=0.01,
    )
    joint = method_result(tasks, [{"RS": 88, "Med": 80, "AD": 95}], costs=[cost], seed=1)
    assert (joint.MFT, joint.MAA, joint.BWT, joint.forgetting) == (None, None, None, [])
    assert pytest.approx((88 + 80 + 95) / 3) == joint.MFN and not joint.in_order
    assert joint.cost is not None and joint.cost.bytes_per_task == 1_000_000  # over 3 tasks
    with pytest.raises(ValueError, match="2 accuracy rows for 3 tasks"):
        method_result(tasks, [{"RS": 1, "Med": 1, "AD": 1}] * 2)
    ft = method_result(tasks, [{"RS": 80, "Med": 10, "AD": 0}] * 3)
    results = BenchmarkResults(
        benchmark="domain",
        tasks=tasks,
        methods={"lora-ft": ft, "joint": joint},
        runs={"lora-ft": [ft, ft], "joint": [joint]},
        oracle={"RS": 90, "Med": 80, "AD": 100},
        zero_shot={"RS": 10, "Med": 10, "AD": 10},
        timings={},
    )
    table = comparison_table(results)
    assert "| joint | 88.00 | 80.00 | 95.00 | - | 87.67 | - | - | - |" in table
    assert results.forward_transfer("joint") is None
    assert "| joint | RS -> Med -> AD | 1 | - | 87.67 | - | - | - |" in runs_table(results)
    assert "joint" not in "".join(forgetting_reading(results))
    reading = reading_against_papers(results)
    # within 5 points of the Oracle row's 90.0: as published, with the one metric it has
    assert any(line.startswith("- joint: as published") and "MFN 87.7" in line for line in reading)
    write_report(results, tmp_path)
    report = (tmp_path / "report.md").read_text()
    assert "| after all at once | 88.00 | 80.00 | 95.00 |" in report
    again = BenchmarkResults.from_json(json.loads((tmp_path / "results.json").read_text()))
    assert again.runs_of("joint") == [joint] and (tmp_path / "matrix-joint.png").stat().st_size


def _routed(task, routed, experts, low_confidence=None):
    """A task's score whose items went to `experts` (confidences 0.4, 0.5, ...)."""
    predictions = [
        {
            "question_id": f"{task}-{i}",
            "prompt": f"q{i}",
            "text": "a",
            "metadata": {"expert": e, "confidence": 0.4 + 0.1 * i, "router_output": "x"},
        }
        for i, e in enumerate(experts)
    ]
    right = 100.0 * sum(e == task for e in experts) / len(experts)
    return TaskScore(
        task=task,
        accuracy=50.0,
        report={},
        predictions=predictions,
        routed_right=right if routed else None,
        answer_seconds=0.01 * len(experts),
        low_confidence=low_confidence,
    )


def test_router_kinds_side_by_side_with_their_confusion_over_time(tmp_path):
    tasks = ["RS", "Fin"]
    step1 = Evaluation(
        scores={"RS": _routed("RS", True, ["RS", "RS"], 50.0), "Fin": _routed("Fin", False, ["RS"])}
    )
    step2 = Evaluation(
        scores={
            "RS": _routed("RS", True, ["RS", "Fin", "RS"], 0.0),
            "Fin": _routed("Fin", True, ["Fin"], 100.0),
        }
    )
    assert step2.confusion() == {"RS": {"RS": 2, "Fin": 1}, "Fin": {"Fin": 1}}
    assert step1.confusion() == {"RS": {"RS": 2}}  # Fin had no expert yet
    assert step2.low_confidence_share() == pytest.approx(25.0)  # 0 of 3 and 1 of 1
    mllm = router_kind_result("mllm", True, [step1, step2], [3.0, 4.0])
    prototype = router_kind_result("prototype", False, [step2, step2], [0.5, None])
    assert mllm.accuracy == [100.0, pytest.approx(75.0)] and mllm.build_seconds == 7.0
    assert prototype.build_seconds is None  # a router whose cost is unknown
    assert mllm.seconds_per_item == pytest.approx(0.01) and mllm.mean_final == 50.0
    results = BenchmarkResults(
        benchmark="domain",
        tasks=tasks,
        methods={"mr-lora": method_result(tasks, [{"RS": 80, "Fin": 10}, {"RS": 78, "Fin": 90}])},
        oracle={"RS": 80, "Fin": 91},
        zero_shot={"RS": 20, "Fin": 30},
        timings={},
        routers=[mllm, prototype],
    )
    files = write_report(results, tmp_path)
    assert (tmp_path / "router-confusion.png").read_bytes().startswith(b"\x89PNG")
    assert tmp_path / "router-confusion.png" in files
    report = (tmp_path / "report.md").read_text()
    assert "| mllm (configured) | 100.0 / 75.0 | 50.0 / 25.0 | 50.00 | 10.0 | 7.0 |" in report
    assert "| prototype | 75.0 / 75.0 | 25.0 / 25.0 | 50.00 | 10.0 | - |" in report
    assert "| prototype | 50.00 | 50.00 |" in report  # the routed accuracy per task
    back = BenchmarkResults.from_json(json.loads((tmp_path / "results.json").read_text()))
    assert back.routers == results.routers


def test_the_router_s_mistakes_are_the_items_sent_to_another_expert():
    evaluation = Evaluation(
        scores={
            "RS": _routed("RS", True, ["RS", "Fin", "RS"]),
            "Fin": _routed("Fin", True, ["Fin", "Fin"]),
            "AD": _routed("AD", False, ["RS"]),  # no expert of its own: nothing to get wrong
        }
    )
    assert evaluation.router_mistakes() == {
        "question_id": ["RS-1"],
        "right_expert": ["RS"],
        "chosen_expert": ["Fin"],
        "confidence": [0.5],
        "router_output": ["x"],
        "prompt": ["q1"],
    }
