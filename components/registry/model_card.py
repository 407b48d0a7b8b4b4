"""An adapter's model card (its README.md, shown by the MLflow artifact view and by the Hugging
Face hub): what it is, where it comes from and how well it does, written by the project in place
of peft's template."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.registry.models import flat_params


def _cell(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def model_card(
    name: str, description: str, params: Mapping[str, Any], metrics: Mapping[str, float]
) -> str:
    """The card of registered adapter `name`: its description, then every training param
    (task, data version, base, the recipe) and figure (its accuracy) as a table."""
    facts = flat_params("", params) | dict(metrics)
    rows = [f"| {key} | {_cell(value)} |" for key, value in facts.items()]
    return "\n".join(
        [
            "---",
            "library_name: peft",
            "tags: [mllm-cl, mr-lora, lora]",
            "---",
            "",
            f"# {name}",
            "",
            description,
            "",
            "| what | value |",
            "| --- | --- |",
            *rows,
            "",
            "## Use",
            "",
            "A PEFT LoRA adapter on the base named above (a LLaVA). Load it with",
            "`peft.PeftModel.from_pretrained(base_model, <this folder>)`, or serve the MR-LoRA",
            "bundle that routes to it (`mllmcl serve`).",
            "",
        ]
    )
