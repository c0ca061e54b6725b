"""Broker start: how long after the broker is up does ``ehcp kafka start`` return?

Starts a fresh single-node broker N times (free ports, temporary home, the cached jars) and for each
start records the seconds from the call to the broker's own "Kafka Server started" log line and to
the call's return; the difference is the readiness check's overhead.

    .venv/bin/python bench/broker_start.py [--starts 3] [--impl path/to/local.py]

``--impl`` loads ``LocalBroker`` from another copy of ``ehcp/kafka_io/broker/local.py`` (for example
``git show 16aafb3:ehcp/broker/local.py > /tmp/local_before.py``) to compare versions.
Prints a table and writes bench/results/broker_start.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ehcp.kafka_io.broker import local  # noqa: E402
from tests.support import free_ports  # noqa: E402

STARTED = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\] INFO .*Kafka Server started")


def load(path: str | None) -> ModuleType:
    """The module that provides ``LocalBroker``: ours, or the file given."""
    if path is None:
        return local
    spec = importlib.util.spec_from_file_location("local_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--impl", default=None, help="another local.py to measure")
    args = parser.parse_args()
    impl = load(args.impl)
    rows: list[dict[str, float]] = []
    for _ in range(args.starts):
        home = Path(tempfile.mkdtemp(prefix="ehcp-start-")) / "kafka"
        port, controller = free_ports(2)
        broker = impl.LocalBroker(
            impl.BrokerConfig(home=home, port=port, controller_port=controller),
            REPO / ".ehcp" / "kafka",
        )
        called_wall = time.time()
        called = time.monotonic()
        broker.start(timeout_s=180)
        returned = time.monotonic() - called
        broker.stop()
        text = (home / "logs" / "server.log").read_text(errors="replace")
        stamps = [m.group(1) for m in map(STARTED.match, text.splitlines()) if m]
        up_wall = datetime.strptime(stamps[0], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        # The log4j timestamps are local time, like time.time() through strptime/timestamp.
        up = up_wall - called_wall
        rows.append({"broker_started_s": round(up, 2), "start_returned_s": round(returned, 2),
                     "overhead_s": round(returned - up, 2)})
        print(f"start {len(rows)}: {rows[-1]}", flush=True)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "impl": args.impl or "ehcp/kafka_io/broker/local.py",
        "starts": rows,
        "median_overhead_s": statistics.median(r["overhead_s"] for r in rows),
    }
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "broker_start.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'start':>5}  {'broker logged started (s)':>25}  {'start() returned (s)':>20}  "
          f"{'overhead (s)':>12}")
    for i, r in enumerate(rows, 1):
        print(f"{i:>5}  {r['broker_started_s']:>25.2f}  {r['start_returned_s']:>20.2f}  "
              f"{r['overhead_s']:>12.2f}")
    print(f"median overhead: {result['median_overhead_s']:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
