"""benchmarks/chained_drift.py puts an adapter together from two steps' parts."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from benchmarks.chained_drift import combined
from components.models.lora.adapters import ADAPTER_WEIGHTS as WEIGHTS


def _adapter(folder, value, modules=("embed_tokens.modules_to_save.weight",)):
    folder.mkdir()
    (folder / "adapter_config.json").write_text(f'{{"r": {int(value)}}}')
    weights = {
        "q_proj.lora_A.weight": torch.full((2, 4), value),
        "q_proj.lora_B.weight": torch.full((4, 2), value),
    }
    weights |= {key: torch.full((3,), value) for key in modules}
    save_file(weights, str(folder / WEIGHTS))
    return folder


def test_the_lora_comes_from_one_adapter_and_the_full_modules_from_the_other(tmp_path):
    final, early = _adapter(tmp_path / "final", 5.0), _adapter(tmp_path / "early", 1.0)
    out = combined(final, early, tmp_path / "out")
    weights = load_file(str(out / WEIGHTS))
    assert weights["q_proj.lora_A.weight"].eq(5.0).all()
    assert weights["q_proj.lora_B.weight"].eq(5.0).all()
    assert weights["embed_tokens.modules_to_save.weight"].eq(1.0).all()
    assert (out / "adapter_config.json").read_text() == '{"r": 5}'  # the LoRA's configuration


def test_adapters_that_train_different_modules_are_refused(tmp_path):
    final = _adapter(tmp_path / "final", 5.0)
    other = _adapter(tmp_path / "other", 1.0, modules=("lm_head.modules_to_save.weight",))
    with pytest.raises(ValueError, match="train different full modules"):
        combined(final, other, tmp_path / "out")
