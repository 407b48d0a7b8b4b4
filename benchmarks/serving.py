"""A served bundle under load and attack: starts `mllmcl serve` on loopback for a benchmark's
registered bundle and measures (1) whether concurrent clients get the answers one client gets,
(2) throughput with 1 and with 5 concurrent clients, and (3) each hostile request class: HTTP
status, seconds, and the server's peak memory while it ran.

    PYTHONPATH=. .venv/bin/python benchmarks/serving.py --home . --benchmark domain \
        [--version N] [--rows 40] [--skip "100k question,1M question"] [--out FILE.md]

Traffic goes to 127.0.0.1 only; every request is bounded in count and time."""

from __future__ import annotations

import argparse
import base64
import os
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from components.data.build import load_split, read_manifest
from components.serving.client import Reply, dataframe_body, image_base64, invoke

GiB = 1024**3
IMAGES = "serving-images"


def _bomb(side: int) -> str:
    """A complete, valid black PNG of side x side pixels: some hundred kilobytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * (side + 1) * side, 9)
    return base64.b64encode(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
    ).decode()


class Server:
    def __init__(self, home: Path, benchmark: str, version: str | None, port: int) -> None:
        command = [str(Path(sys.executable).with_name("mllmcl")), "serve"]
        command += ["--benchmark", benchmark, "--port", str(port)]
        command += ["--version", version] if version else []
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(home / f"serving-benchmark-{port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            env=os.environ | {"MLLMCL_HOME": str(home), "MLLMCL_SERVE__IMAGE_ROOT": str(home)},
            cwd=home,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2):
                    return
            except OSError:
                time.sleep(1)
        raise TimeoutError("the server did not start")

    def rss(self) -> int:
        try:
            root = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0

    def alive(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)


class PeakMemory:
    """The server's largest resident memory while a block runs (sampled every 50 ms)."""

    def __init__(self, server: Server) -> None:
        self.server, self.peak, self._stop = server, 0, threading.Event()

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss())
            time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def request_bodies(home: Path, benchmark: str, count: int, rows: int, paths: bool) -> list[bytes]:
    """Test items of every task, interleaved; images as base64, or as file names relative to
    the home (written to home/serving-images) when `paths`."""
    data = home / "data"
    manifest = read_manifest(data / benchmark)
    items = []
    for entry in manifest.tasks:
        split = load_split(data, benchmark, entry.spec.name, "test")
        for index, record in enumerate(split.select(range(min(40, len(split))))):
            image = image_base64(record["image"])
            if paths:
                name = f"{IMAGES}/{entry.spec.name}-{index}.png"
                (home / IMAGES).mkdir(exist_ok=True)
                record["image"].save(home / name)
                image = name
            items.append([image, record["text"]])
    items = items[::2] + items[1::2]  # tasks interleaved
    return [
        dataframe_body([items[(rows * b + r) % len(items)] for r in range(rows)])
        for b in range(count)
    ]


def hostile_cases(image: str, question: str, home: Path) -> dict[str, tuple[bytes, str]]:
    secret = home / "mlflow" / "mlflow.db"
    rows = {
        "server file as image": [[str(secret), question]],
        "/etc/shadow as image": [["/etc/shadow", question]],
        "missing file as image": [["/no/such/file.png", question]],
        "12000x12000 PNG": [[_bomb(12000), question]],
        "100k question": [[image, "q" * 100_000]],
        "1M question": [[image, "q" * 1_000_000]],
        "data URI without comma": [["data:image/png;base64", question]],
        "number as question": [[image, 42]],
        "null as image": [[None, question]],
        "<image> in question": [[image, "<image> what is here?"]],
        "1,000 rows": [[image, question]] * 1000,
    }
    cases = {name: (dataframe_body(r), "application/json") for name, r in rows.items()}
    cases["invalid JSON"] = (b'{"dataframe_split": ', "application/json")
    cases["64 MB body"] = (b"[" + b"0," * (32 * 1024 * 1024) + b"0]", "application/json")
    return cases


def _answers(reply: Reply):
    return reply.json()["predictions"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path("."))
    parser.add_argument("--benchmark", default="domain")
    parser.add_argument("--version", default=None)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument(
        "--images", choices=("base64", "paths"), default="base64", help="how the load sends images"
    )
    parser.add_argument("--skip", default="", help="comma-separated hostile cases to skip")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    home = args.home.resolve()
    bodies = request_bodies(home, args.benchmark, 12, args.rows, args.images == "paths")
    server = Server(home, args.benchmark, args.version, args.port)
    lines = [f"# Served bundle under load and attack ({time.strftime('%Y-%m-%d')})", ""]
    lines += ["`" + " ".join(["benchmarks/serving.py", *sys.argv[1:]]) + "`", ""]
    try:
        idle = server.rss()
        started = time.perf_counter()
        alone = [invoke(server.url, body) for body in bodies]
        one_client = time.perf_counter() - started
        started = time.perf_counter()
        with ThreadPoolExecutor(5) as pool:
            together = list(pool.map(lambda body: invoke(server.url, body), bodies))
        five_clients = time.perf_counter() - started
        rows = len(bodies) * args.rows
        refused = [sum(r.status != 200 for r in results) for results in (alone, together)]
        differ = sum(
            a.status == t.status == 200 and _answers(a) != _answers(t)
            for a, t in zip(alone, together, strict=True)
        )
        lines += [
            f"Server memory idle: {idle / GiB:.2f} GiB.",
            "",
            "| clients | bodies x rows | seconds | rows/s | bodies refused | "
            "bodies answered differently from one client |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| 1 | {len(bodies)} x {args.rows} | {one_client:.1f} | {rows / one_client:.1f} | "
            f"{refused[0]} | - |",
            f"| 5 | {len(bodies)} x {args.rows} | {five_clients:.1f} | "
            f"{rows / five_clients:.1f} | {refused[1]} | {differ} of {len(bodies)} |",
            "",
            "| hostile request | status | seconds | server peak GiB | stack trace or server "
            "path in the answer | answer (start) |",
            "| --- | ---: | ---: | ---: | --- | --- |",
        ]
        first = read_manifest(home / "data" / args.benchmark).tasks[0].spec.name
        sample = load_split(home / "data", args.benchmark, first, "test")[0]
        image, question = image_base64(sample["image"]), sample["text"]
        skipped = {name.strip() for name in args.skip.split(",") if name.strip()}
        for name, (body, kind) in hostile_cases(image, question, home).items():
            if name in skipped:
                lines.append(f"| {name} | skipped | | | | |")
                continue
            with PeakMemory(server) as memory:
                reply = invoke(server.url, body, content_type=kind, timeout=90)
            shown = reply.body[:90].decode("utf-8", "replace").replace("|", "/").replace("\n", " ")
            leaks = b"Traceback" in reply.body or str(home).encode() in reply.body
            lines.append(
                f"| {name} | {reply.status or 'no answer'} | {reply.seconds:.2f} | "
                f"{memory.peak / GiB:.2f} | {'yes' if leaks else 'no'} | {shown} |"
            )
            print(lines[-1], flush=True)
        lines += ["", f"Server up at the end: {server.alive()}."]
    finally:
        server.stop()
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
