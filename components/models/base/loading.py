"""The base MLLM: any Hugging Face LLaVA checkpoint (a local folder or a hub id), loaded
as it is, and the digest that names its weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import (
    AutoProcessor,
    LlavaForConditionalGeneration,
    ProcessorMixin,
)

TINY = "tiny"


class BaseRef(BaseModel):
    """Where the base lives and a digest that changes whenever its weights could."""

    name_or_path: str
    digest: str

    @property
    def label(self) -> str:
        """How records name it: a hub id as it is, a local folder by its name and digest (a
        path of one machine means nothing on another)."""
        path = Path(self.name_or_path)
        if path.is_absolute() or path.exists():
            return f"{path.name}@{self.digest[:12]}"
        return self.name_or_path


def resolve_dtype(dtype: str) -> torch.dtype:
    """`auto`: bfloat16 on a GPU, float32 on a CPU."""
    if dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, dtype)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_base(
    name_or_path: str, dtype: str = "auto", device: str = "auto"
) -> tuple[LlavaForConditionalGeneration, ProcessorMixin]:
    """A LLaVA and its processor from a local folder or a hub id (network only if asked)."""
    model = LlavaForConditionalGeneration.from_pretrained(name_or_path, dtype=resolve_dtype(dtype))
    processor = AutoProcessor.from_pretrained(name_or_path)
    # transformers types the `.to` of its models as an unbound function
    return model.to(resolve_device(device)), processor  # type: ignore[arg-type]


BUILD_RECORD = "build.json"  # how a tiny base was built: about the weights, not part of them


def folder_digest(folder: Path) -> str:
    """SHA-256 over the config and weight files of a saved model."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*")):
        if path.name == BUILD_RECORD:
            continue
        if path.is_file() and path.suffix in {".json", ".safetensors", ".model", ".txt"}:
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def base_ref(name_or_path: str) -> BaseRef:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return BaseRef(name_or_path=str(path.resolve()), digest=folder_digest(path))
    return BaseRef(
        name_or_path=name_or_path, digest=hashlib.sha256(name_or_path.encode()).hexdigest()[:16]
    )
