"""Benchmark `core.context_packing.pack_context` on a generated 200 MB build context.

Creates a tree in a temporary folder (half random bytes, half text-like, many files of mixed sizes),
then packs it in a fresh child process (so its peak RSS is that of a CLI doing only the packing) to
a sink that only counts bytes, and prints throughput and peak RSS. Figures only, no assertions.

    .venv/bin/python bench/pack_context.py [--size-mb 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    b"def class return import from self value config name data item list dict for in if else "
    b"while true false none http request response error status build image docker task step "
    b"registry context layer digest tag push pull run log message user id time the of and to a"
).split()


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return len(data)


def text_pool(rng: random.Random, size: int) -> bytes:
    lines = []
    total = 0
    while total < size:
        indent = b"    " * rng.randrange(4)
        line = indent + b" ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 14))) + b"\n"
        lines.append(line)
        total += len(line)
    return b"".join(lines)[:size]


def file_sizes(rng: random.Random, budget: int) -> list[int]:
    sizes = []
    while budget > 0:
        roll = rng.random()
        if roll < 0.95:
            size = rng.randrange(200, 16 * 1024)
        elif roll < 0.995:
            size = rng.randrange(16 * 1024, 512 * 1024)
        else:
            size = rng.randrange(1024 * 1024, 8 * 1024 * 1024)
        size = min(size, budget)
        sizes.append(size)
        budget -= size
    return sizes


def make_tree(root: Path, total_mb: int, seed: int = 7) -> tuple[int, int]:
    rng = random.Random(seed)
    pool = text_pool(rng, 2 * 1024 * 1024)
    half = total_mb * 1024 * 1024 // 2
    files = 0
    for kind, sizes in (("bin", file_sizes(rng, half)), ("src", file_sizes(rng, half))):
        for index, size in enumerate(sizes):
            folder = root / kind / f"d{index % 23:02d}" / f"s{index % 7}"
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"f{index:05d}.{'dat' if kind == 'bin' else 'txt'}").open("wb") as out:
                left = size
                while left:
                    chunk = min(left, 1024 * 1024)
                    if kind == "bin":
                        out.write(rng.randbytes(chunk))
                    else:
                        start = rng.randrange(len(pool) - chunk + 1)
                        out.write(pool[start : start + chunk])
                    left -= chunk
            files += 1
    (root / "Dockerfile").write_text("FROM alpine:3.20\nCOPY . /app\n")
    (root / ".dockerignore").write_text("*.tmp\n**/cache\n")
    return files, 2 * half


def pack_once(root: Path) -> None:
    """Child mode: pack `root` once and print the figures as JSON."""
    sys.path.insert(0, str(REPO_ROOT))
    from core.context_packing import pack_context

    sink = CountingSink()
    start = time.perf_counter()
    result = pack_context(root, "Dockerfile", sink)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "unpacked_bytes": result.unpacked_bytes,
                "compressed_bytes": result.compressed_bytes,
                "files": result.file_count,
                "peak_rss_mib": peak_kib / 1024,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pack", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pack is not None:
        pack_once(args.pack)
        return
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as temp:
        root = Path(temp)
        start = time.perf_counter()
        files, size = make_tree(root, args.size_mb)
        print(
            f"tree: {files} files, {size / 1e6:.0f} MB (half random, half text) in {time.perf_counter() - start:.1f}s"
        )
        for run in range(1, args.runs + 1):
            output = subprocess.run(
                [sys.executable, __file__, "--pack", str(root)], check=True, capture_output=True, text=True
            ).stdout
            figures = json.loads(output)
            mb_s = figures["unpacked_bytes"] / 1e6 / figures["seconds"]
            print(
                f"run {run}: {mb_s:.0f} MB/s ({figures['unpacked_bytes'] / 1e6:.0f} MB tar in "
                f"{figures['seconds']:.2f}s), compressed to {figures['compressed_bytes'] / 1e6:.0f} MB "
                f"({figures['compressed_bytes'] / figures['unpacked_bytes']:.2f}), "
                f"{figures['files']} files, peak RSS {figures['peak_rss_mib']:.0f} MiB"
            )


if __name__ == "__main__":
    main()
