"""The routed MR-LoRA bundle as an MLflow pyfunc model, logged from code (no pickle): MLflow
runs this file when it loads the model. Input: a DataFrame with `image` (base64 image bytes or a
data URI) and `question`; output: `answer`, `expert` (the chosen task), `letter`, `confidence`
(the chosen expert's probability among the pool, as the router gave it), `low_confidence`
(below the floor the bundle was registered with: an input no expert may know) and `notes`
(what was done to the row, such as a question cut to the limit).

Requests are untrusted (components/serving/limits.py) and may come from many threads at once:
every row is checked before any work, and one worker answers the queued requests together."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from components.registry.bundle import EXPERT_PREFIX

COLUMNS = ("image", "question")


class RoutedBundle(PythonModel):
    def load_context(self, context) -> None:
        # Imported here: MLflow adds the bundled code to the path before it loads the context.
        from components.models.mrlora.spec import load_spec
        from components.models.mrlora.two_stage import TwoStage
        from components.serving.limits import ServingLimits
        from components.serving.queue import BatchingQueue

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
        self.confidence_floor = float(config.get("confidence_floor", 0.5))
        self.limits = ServingLimits()
        self.reserved = self.bundle.reserved_tokens()
        self.queue = BatchingQueue(
            self.bundle.answer, self.limits.max_batch_rows, self.limits.max_queued_requests
        )

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        from components.models.prompts import Sample
        from components.serving.inputs import FieldProblem, RequestError, check_rows

        missing = [c for c in COLUMNS if c not in getattr(model_input, "columns", ())]
        if missing:
            raise RequestError([FieldProblem(0, name, "column missing") for name in missing])
        rows = check_rows(
            list(model_input["image"]), list(model_input["question"]), self.reserved, self.limits
        )
        samples = [Sample(row.image, row.question) for row in rows]
        routed = self.queue.submit(samples, timeout=self.limits.request_timeout_s)
        return pd.DataFrame(
            {
                "answer": [r.answer for r in routed],
                "expert": [r.task for r in routed],
                "letter": [r.letter for r in routed],
                "confidence": [r.confidence for r in routed],
                "low_confidence": [r.confidence < self.confidence_floor for r in routed],
                "notes": ["; ".join(row.notes) for row in rows],
            }
        )


mlflow.models.set_model(RoutedBundle())
