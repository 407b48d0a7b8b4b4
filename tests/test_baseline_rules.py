"""The rule of each baseline that trains one adapter per step, pinned on the tiny base and the
micro benchmark: LoRA-FT continues, the joint model sees every seen task, EWC's penalty holds the
weights, O-LoRA's loss drives the new subspace away from the frozen old one, MoELoRA's gate mixes
its experts and learns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from components.data.build import load_split
from components.methods.ewc import ewc_plan
from components.methods.joint import joint_plan
from components.methods.lora_ft import lora_ft_plan, train_step
from components.methods.moelora import moelora_plan
from components.methods.olora import olora_plan
from components.models.base.loading import load_base
from components.models.generation import generate_answers
from components.models.lora.adapters import load_adapters
from components.models.lora.consolidation import CONSOLIDATION_FILE, Consolidation
from components.models.lora.mixture import MixtureLinear
from components.models.samples import evaluation_samples
from tests.helpers import FAST_EXPERT, ONE_EPOCH_EXPERT

WEIGHTS = "adapter_model.safetensors"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / WEIGHTS))


@pytest.mark.parametrize("replay", [False, True])
def test_lora_ft_continues_one_adapter_through_the_tasks(tiny_base, micro_home, tmp_path, replay):
    data, tasks = micro_home / "data", ["RS", "Fin"]
    first = train_step(
        lora_ft_plan(data, "micro", tasks, 1, None, replay),
        tiny_base.ref,
        ONE_EPOCH_EXPERT,
        tmp_path / "rs",
        progress=False,
    )
    second = train_step(
        lora_ft_plan(data, "micro", tasks, 2, first.folder, replay),
        tiny_base.ref,
        ONE_EPOCH_EXPERT,
        tmp_path / "fin",
        progress=False,
    )
    assert second.samples == 24 + (20 if replay else 0)  # Fin's train (+ RS's replay set)
    before, after = _weights(first.folder), _weights(second.folder)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_the_joint_model_sees_every_seen_task_s_data_in_any_order(micro_home):
    data = micro_home / "data"
    plan = joint_plan(data, "micro", ["RS", "Fin", "Med"], 2)
    seen = sum(len(load_split(data, "micro", t, "train")) for t in ("RS", "Fin"))
    assert len(plan.samples) == seen  # RS's and Fin's train splits, not Med's
    assert plan.start is None  # from the base
    other_order = joint_plan(data, "micro", ["Fin", "RS", "Med"], 2)
    assert [s.question for s in other_order.samples] == [s.question for s in plan.samples]


def test_ewc_holds_the_adapter_near_where_the_earlier_task_left_it(tiny_base, micro_home, tmp_path):
    data = micro_home / "data"

    def ewc(task, out, previous):
        plan = ewc_plan(data, "micro", task, out, previous, 1e6, 8)
        return train_step(plan, tiny_base.ref, FAST_EXPERT, out, progress=False)

    first = ewc(task="RS", out=tmp_path / "rs", previous=None)
    held = Consolidation.load(first.folder, strength=1.0)
    assert all((f >= 0).all() for f in held.fisher.values())
    assert any((f > 0).any() for f in held.fisher.values())  # RS depends on its LoRA
    weights = _weights(first.folder)
    assert len(held.anchor) == len(weights)  # every trained tensor is held

    second = ewc(task="Fin", out=tmp_path / "fin", previous=first.folder)
    free = train_step(
        lora_ft_plan(data, "micro", ["RS", "Fin"], 2, first.folder),
        tiny_base.ref,
        FAST_EXPERT,
        tmp_path / "ft",
        progress=False,
    )
    assert (second.folder / CONSOLIDATION_FILE).exists()

    def drift(run) -> float:
        after = _weights(run.folder)
        return sum(float((after[k] - weights[k]).pow(2).sum()) for k in weights)

    assert drift(second) < 0.5 * drift(free)  # the penalty held it back


def _overlap(folder: Path, old_rank: int) -> float:
    """sum over layers of ||A_old A_new^T||^2, each A's rows scaled to unit length (so that the
    figure measures directions, not how far the rows grew)."""
    total = 0.0
    for key, a in _weights(folder).items():
        if ".lora_A." in key:
            a = torch.nn.functional.normalize(a.float(), dim=1)
            total += float((a[:old_rank] @ a[old_rank:].T).pow(2).sum())
    return total


def test_o_lora_freezes_the_earlier_lora_and_its_loss_drives_the_overlap_down(
    tiny_base, micro_home, tmp_path
):
    data, settings, rank = micro_home / "data", FAST_EXPERT, FAST_EXPERT.rank

    def step(task, previous, strength, out):
        plan = olora_plan(data, "micro", task, previous, settings, strength)
        return train_step(plan, tiny_base.ref, settings, tmp_path / out, progress=False)

    first = step("RS", None, 0.0, "rs")
    free = step("Fin", first.folder, 0.0, "free")
    held = step("Fin", first.folder, 1e3, "orthogonal")

    config = json.loads((held.folder / "adapter_config.json").read_text())
    assert config["r"] == 2 * rank and config["lora_alpha"] == 2 * settings.alpha
    earlier = _weights(first.folder)
    for run in (free, held):
        after = _weights(run.folder)
        for key, value in earlier.items():
            if ".lora_A." in key:
                assert torch.equal(after[key][:rank], value)  # the earlier rows did not move
            elif ".lora_B." in key:
                assert torch.equal(after[key][:, :rank], value)
        assert run.trainable_parameters == first.trainable_parameters  # one task's LoRA trained
    assert _overlap(held.folder, rank) < 0.5 * _overlap(free.folder, rank)


def test_moelora_s_gate_weights_sum_to_one_and_are_trained(tiny_base, micro_home, tmp_path):
    data, settings, tasks = micro_home / "data", ONE_EPOCH_EXPERT, ["RS", "Fin"]
    first_plan = moelora_plan(data, "micro", tasks, 1, None, settings, experts=4)
    model, _ = load_base(tiny_base.ref.name_or_path)
    torch.manual_seed(settings.train.seed)  # as training does before it puts the adapter on
    assert first_plan.start is not None
    initial = first_plan.start(model)
    layers = [m for m in initial.modules() if isinstance(m, MixtureLinear)]
    assert layers and all(m.experts == 4 for m in layers)
    layer = layers[0]
    weights = layer.gate("default", torch.randn(3, 5, layer.in_features))
    assert weights.shape == (3, 5, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 5))
    gates = [(n, p) for n, p in initial.named_parameters() if "lora_gate" in n]
    assert gates and all(p.requires_grad for _, p in gates)
    gate_before = {n.replace(".default.", "."): p.detach().clone() for n, p in gates}

    first = train_step(first_plan, tiny_base.ref, settings, tmp_path / "rs", progress=False)
    saved = _weights(first.folder)
    assert {k for k in saved if "lora_gate" in k} == gate_before.keys()
    assert all(not torch.equal(saved[k], before) for k, before in gate_before.items())  # learned

    second = train_step(
        moelora_plan(data, "micro", tasks, 2, first.folder, settings, experts=4),
        tiny_base.ref,
        settings,
        tmp_path / "fin",
        progress=False,
    )
    model, processor = load_adapters(tiny_base.ref.name_or_path, {"moe": second.folder})
    loaded = [m for m in model.modules() if isinstance(m, MixtureLinear)]
    assert len(loaded) == len(layers)  # loaded as a mixture, not as a plain LoRA
    state = model.state_dict()
    for key, value in _weights(second.folder).items():
        if "lora_gate" in key:
            name = key.replace("lora_gate.weight", "lora_gate.moe.weight")
            assert torch.equal(state[name], value)
    samples, _ = evaluation_samples(load_split(data, "micro", "Fin", "test"))
    assert len(generate_answers(model, processor, samples[:2])) == 2
