"""How long the text safety layers take on long hostile input: the redaction of a shown
command line (`mask_command`), the redaction of output lines (`Redactor`), and the escaping of
relayed task output (`render.relay`).

Each runs on the same filler at 4 KiB and at 64 KiB (64 KiB is the longest line apply relays).
Linear code takes about 16 times as long for 16 times the text; a pattern that backtracks takes
hundreds of times as long. The baseline is the plain copy of the text (`bytes(line)`), so the
figures say how much slower than reading the text each layer is.

    python bench/hostile_text.py [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from _common import dump_json, print_facts, table
from ecs_migrate.common.redact import Redactor, mask_command
from ecs_migrate.render.relay import ByteRelay

FILLERS = ["x", "a=", "-p", "'", '"', "\\", "%", "password=", "p://u:", "\x1b[", "\r", "##vso["]
SIZES = (4096, 65536)
SECRETS = ["-----BEGIN KEY-----\nMIIBOgIBAAJBAK\n-----END KEY-----", "s3cr3t/p@ss:word", "'\\''-x"]


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of ``runs`` timings of ``work``, in milliseconds (the least disturbed)."""
    best = float("inf")
    for _ in range(runs):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best * 1000


def measure(filler: str, size: int) -> dict[str, float]:
    text = filler * (size // len(filler))
    line = text.encode() + b"\n"
    redactor = Redactor(SECRETS)
    relay = ByteRelay()
    return {
        "copy": best_of(5, lambda: bytes(bytearray(line))),
        "mask_command": best_of(3, lambda: mask_command(["sh", "-c", text])),
        "redactor": best_of(3, lambda: redactor.data(line)),
        "relay": best_of(3, lambda: relay.feed(line)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the raw figures to this file")
    args = parser.parse_args()
    print_facts("hostile text: redaction and relay on long hostile lines")
    rows, raw = [], {}
    worst_ratio = 0.0
    for filler in FILLERS:
        small, large = (measure(filler, size) for size in SIZES)
        raw[filler] = {"4KiB": small, "64KiB": large}
        for layer in ("copy", "mask_command", "redactor", "relay"):
            ratio = large[layer] / max(small[layer], 1e-3)
            if layer != "copy":
                worst_ratio = max(worst_ratio, ratio)
            rows.append(
                (repr(filler), layer, f"{small[layer]:.3f}", f"{large[layer]:.3f}", f"{ratio:.0f}x")
            )
    print(table(("filler", "layer", "4 KiB ms", "64 KiB ms", "64/4"), rows))
    print(f"\nworst growth from 4 KiB to 64 KiB: {worst_ratio:.0f}x (linear: about 16x)")
    dump_json(args.json, {"figures": raw, "worst_ratio": worst_ratio})


if __name__ == "__main__":
    main()
