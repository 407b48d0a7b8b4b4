"""EWC's rule on plain tensors: the penalty is zero at its anchor and grows with the square of the
distance, weighted by each parameter's Fisher; each task adds its Fisher and moves the anchor."""

import pytest
import torch

from components.models.lora.consolidation import Consolidation


def _model(weight: list[float]) -> torch.nn.Module:
    layer = torch.nn.Linear(len(weight), 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weight]))
    return layer


ANCHOR = {"weight": torch.tensor([[1.0, 2.0]])}
FISHER = {"weight": torch.tensor([[4.0, 0.0]])}  # the second weight matters to no earlier task


def test_the_penalty_is_zero_at_the_anchor_and_grows_away_from_it():
    held = Consolidation(ANCHOR, FISHER, strength=10.0)
    assert held.penalty(_model([1.0, 2.0])).item() == 0.0
    near, far = (held.penalty(_model([1.0 + d, 2.0])).item() for d in (0.5, 1.0))
    assert near == pytest.approx(10.0 / 2 * 4.0 * 0.25) and far == pytest.approx(4 * near)
    assert held.penalty(_model([1.0, 7.0])).item() == 0.0  # where the Fisher is zero
    assert Consolidation.none(10.0).penalty(_model([5.0, 5.0])).item() == 0.0


def test_the_penalty_s_gradient_pulls_back_to_the_anchor():
    model = _model([3.0, 2.0])
    Consolidation(ANCHOR, FISHER, strength=1.0).penalty(model).backward()
    assert model.weight.grad.tolist() == [[4.0 * (3.0 - 1.0), 0.0]]


def test_each_task_adds_its_fisher_and_moves_the_anchor(tmp_path):
    held = Consolidation(ANCHOR, FISHER, strength=2.0)
    after = held.then(_model([0.0, 5.0]), {"weight": torch.tensor([[1.0, 3.0]])})
    assert after.anchor["weight"].tolist() == [[0.0, 5.0]]
    assert after.fisher["weight"].tolist() == [[5.0, 3.0]]
    after.save(tmp_path)
    again = Consolidation.load(tmp_path, strength=2.0)
    assert again.anchor["weight"].tolist() == [[0.0, 5.0]]
    assert again.fisher["weight"].tolist() == [[5.0, 3.0]]
    with pytest.raises(ValueError, match="an anchor and a Fisher value per parameter"):
        Consolidation(ANCHOR, {}, strength=1.0)
