"""The routed MR-LoRA bundle as an MLflow pyfunc model, logged from code (no pickle): MLflow
runs this file when it loads the model. Input: a DataFrame with `image` (a file path, base64,
or a data URI) and `question`; output: `answer`, `expert` (the chosen task) and `letter`."""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel
from PIL import Image, UnidentifiedImageError

from components.registry.bundle import EXPERT_PREFIX


def decode_image(value: str, row: int) -> Image.Image:
    """A path to an image file, or the image itself as base64 (optionally a data URI)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"row {row}: field image: expected a path or base64 string")
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        if len(text) < 4096 and Path(text).is_file():
            with Image.open(text) as picture:
                return picture.convert("RGB")
        raw = base64.b64decode(text, validate=True)
        with Image.open(io.BytesIO(raw)) as picture:
            return picture.convert("RGB")
    except (binascii.Error, UnidentifiedImageError, OSError) as error:
        raise ValueError(
            f"row {row}: field image: neither an image file nor base64 image data ({error})"
        ) from None


class RoutedBundle(PythonModel):
    def load_context(self, context) -> None:
        # Imported here: MLflow adds the bundled code to the path before it loads the context.
        from components.models.inference import TwoStage
        from components.models.router import load_spec

        config = context.model_config or {}
        artifacts = context.artifacts
        spec = load_spec(Path(artifacts["router"]))
        experts = {
            key.removeprefix(EXPERT_PREFIX): Path(path)
            for key, path in artifacts.items()
            if key.startswith(EXPERT_PREFIX)
        }
        base = artifacts.get("base") or config.get("base")
        if not base:
            raise ValueError("the bundle holds no base: set model_config['base'] to a LLaVA")
        self.bundle = TwoStage(
            base,
            Path(artifacts["router"]),
            experts,
            spec,
            config.get("decoding", "constrained"),
            config.get("dtype", "auto"),
            config.get("device", "auto"),
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from components.models.prompts import Sample

        for column in ("image", "question"):
            if column not in model_input.columns:
                raise ValueError(f"the input needs columns image and question; {column} is missing")
        samples = [
            Sample(decode_image(image, row), str(question))
            for row, (image, question) in enumerate(
                zip(model_input["image"], model_input["question"], strict=True)
            )
        ]
        routed = self.bundle.answer(samples)
        return pd.DataFrame(
            {
                "answer": [r.answer for r in routed],
                "expert": [r.task for r in routed],
                "letter": [r.letter for r in routed],
            }
        )


mlflow.models.set_model(RoutedBundle())
