"""DVC versioning of the prepared data folder: `dvc add` it, read its version (the md5 that
data.dvc records) and push it to the configured remote (a local folder by default)."""

from __future__ import annotations

from pathlib import Path

import yaml
from dvc.repo import Repo

REMOTE_NAME = "mllmcl"


def _open(home: Path) -> Repo:
    if not (home / ".dvc").is_dir():
        # A git checkout gets DVC with git; any other home (a temporary test home) without it.
        Repo.init(str(home), no_scm=not (home / ".git").exists())
    return Repo(str(home))


def data_version(dvc_file: Path) -> str | None:
    """The version recorded in a .dvc file: the md5 of the tracked folder, without `.dir`."""
    if not dvc_file.is_file():
        return None
    outs = yaml.safe_load(dvc_file.read_text(encoding="utf-8")).get("outs") or [{}]
    md5 = outs[0].get("md5")
    return md5.removesuffix(".dir") if md5 else None


def commit_data(home: Path, data_dir: Path) -> str:
    """`dvc add` the data folder (a no-op when unchanged) and return its version."""
    repo = _open(home)
    try:
        repo.add(str(data_dir))
    finally:
        repo.close()
    version = data_version(data_dir.with_suffix(".dvc"))
    if version is None:
        raise RuntimeError(f"dvc add left no version in {data_dir.with_suffix('.dvc')}")
    return version


def _configure_remote(repo: Repo, url: str) -> None:
    """Point the `mllmcl` remote at `url` in .dvc/config.local (machine-specific, not committed)."""
    with repo.config.edit("local") as config:
        config.setdefault("remote", {})[REMOTE_NAME] = {"url": url}
        config.setdefault("core", {})["remote"] = REMOTE_NAME


def push_data(home: Path, data_dir: Path, remote_url: str) -> int:
    """Push the data folder's objects to the remote; returns how many were transferred."""
    if "://" not in remote_url:
        Path(remote_url).mkdir(parents=True, exist_ok=True)
    repo = _open(home)
    try:
        _configure_remote(repo, remote_url)
        return repo.push(targets=[str(data_dir.with_suffix(".dvc"))], remote=REMOTE_NAME)
    finally:
        repo.close()


def data_status(home: Path, data_dir: Path, remote: bool = False) -> dict:
    """`dvc status` (or `dvc status -c` against the remote) for the data folder: {} when clean."""
    repo = _open(home)
    try:
        return repo.status(targets=[str(data_dir.with_suffix(".dvc"))], cloud=remote)
    finally:
        repo.close()
