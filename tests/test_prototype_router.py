"""The prototype router's rule on planted features, and its file (on the tiny base and the micro
benchmark: tests/test_models.py)."""

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from components.models.mrlora.prototypes import (
    PROTOTYPES_FILE,
    Features,
    Prototypes,
    router_kind,
)


def _clusters(offsets: dict[str, float], per_task: int = 12) -> tuple[Features, list[str]]:
    """Per task, features scattered around its own point (image and question parts apart)."""
    generator = torch.Generator().manual_seed(0)
    images, questions, labels = [], [], []
    for task, offset in offsets.items():
        centre = torch.full((8,), offset)
        centre[int(offset) % 8] += 3.0  # tasks apart in direction, not only in length
        images.append(centre + 0.1 * torch.randn(per_task, 8, generator=generator))
        questions.append(-centre[:6] + 0.1 * torch.randn(per_task, 6, generator=generator))
        labels += [task] * per_task
    return Features(torch.cat(images), torch.cat(questions)), labels


def test_each_task_goes_to_its_prototype_with_high_confidence():
    features, labels = _clusters({"A": 1.0, "B": 4.0, "C": 6.0})
    prototypes = Prototypes.fit(features, labels)
    assert prototypes.tasks == ("A", "B", "C")
    routed = prototypes.route(features)
    assert [task for task, _ in routed] == labels
    assert min(confidence for _, confidence in routed) > 0.9


def test_an_image_of_one_task_asked_as_another_is_less_sure_than_either():
    features, labels = _clusters({"A": 1.0, "B": 4.0})
    prototypes = Prototypes.fit(features, labels)
    a, b = (torch.tensor([label == t for label in labels]) for t in "AB")
    mixed = Features(features.image[a][:1], features.question[b][:1])
    (_, unsure), *_ = prototypes.route(mixed)
    assert unsure < min(confidence for _, confidence in prototypes.route(features)) - 0.1


def test_one_task_routes_with_full_confidence(tmp_path: Path):
    features, labels = _clusters({"A": 1.0})
    Prototypes.fit(features, labels).save(tmp_path)  # the first arrival's router
    assert Prototypes.load(tmp_path).route(features) == [("A", 1.0)] * len(labels)


def test_prototypes_round_trip_and_a_bad_file_is_named(tmp_path: Path):
    features, labels = _clusters({"A": 1.0, "B": 4.0})
    prototypes = Prototypes.fit(features, labels)
    prototypes.save(tmp_path / "router")
    assert router_kind(tmp_path / "router") == "prototype"
    loaded = Prototypes.load(tmp_path / "router")
    assert loaded.route(features) == prototypes.route(features)
    assert router_kind(tmp_path) == "mllm"
    with pytest.raises(FileNotFoundError, match="not a prototype router"):
        Prototypes.load(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    save_file({"centre": torch.zeros(3)}, str(broken / PROTOTYPES_FILE), metadata={"tasks": "A"})
    with pytest.raises(ValueError, match=f"{PROTOTYPES_FILE}: not a prototype router's file"):
        Prototypes.load(broken)
