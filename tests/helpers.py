"""Small helpers shared by the integration tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from components.data.prepare import PreparedData, build_staged, commit_staged
from components.data.source import fingerprint_source, plan_source
from components.data.validation import validate_source
from components.settings import Settings

# Gates that pass whatever the micro experts score: for tests about how a bundle gets
# registered and promoted, not about how good it is.
OPEN_GATES = {
    "MLLMCL_GATES__NEW_TASK_FLOOR": "0",
    "MLLMCL_GATES__NEW_TASK_MARGIN": "-100",
    "MLLMCL_GATES__ROUTER_FLOOR": "0",
}


def tree_digest(folder: Path) -> str:
    """One hash over every file (path and bytes) below `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def edit_records(path: Path, change) -> None:
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))


def prepare_without_prefect(
    source: Path, benchmark: str, settings: Settings, tasks: list[str] | None = None
) -> PreparedData:
    """The prepare flow's steps, called directly (for tests about the components)."""
    plan = plan_source(source, tasks=tasks)
    fingerprints = fingerprint_source(plan)
    validated = validate_source(
        plan, settings.replay_per_task, settings.seed, settings.max_image_pixels
    )
    staged = build_staged(validated, fingerprints, benchmark, plan.track, settings, progress=False)
    return commit_staged(staged, settings)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, timeout: float, process=None) -> None:
    """Poll `url` until it answers 200; fail early if `process` exits."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop(process) -> None:
    """End a process started with start_new_session=True, with everything it spawned."""
    import os
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except Exception:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _fast_expert(epochs: float):
    from components.models.lora.settings import EXPERT_PRESETS, TrainSettings

    train = TrainSettings(epochs=epochs, learning_rate=3e-3, batch_size=8, warmup_ratio=0.05)
    return EXPERT_PRESETS["cpu"].model_copy(update={"train": train})


FAST_EXPERT = _fast_expert(epochs=6)
ONE_EPOCH_EXPERT = _fast_expert(epochs=1)  # where a test needs a trained adapter, not a good one


def train_micro_expert(micro_home: Path, task: str, base, out: Path, settings=FAST_EXPERT):
    """One expert on the micro benchmark's split of `task`, in seconds."""
    from components.data.build import load_split
    from components.models.lora.adapters import train_adapter
    from components.models.samples import training_samples

    samples = training_samples(load_split(micro_home / "data", "micro", task, "train"))
    return train_adapter(base.ref.name_or_path, samples, settings, out, progress=False)


def png_bomb(side: int) -> bytes:
    """A PNG whose header says side x side pixels, a few kilobytes long (its data is cut)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (side + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
