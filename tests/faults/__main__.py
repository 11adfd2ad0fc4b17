"""Run every fault scenario and print what each left behind:

python -m tests.faults [scenario names...]
"""

from __future__ import annotations

import sys

from tests.faults.scenarios import SCENARIOS

COLUMNS = (
    "scenario",
    "due",
    "delivered once",
    "duplicates",
    "lost",
    "left unknown",
    "failed, with reason",
    "settled by look-up",
    "settled by callback",
    "in flight at disruption",
    "worker restarts",
    "worker exited",
    "sends in metrics",
    "time to drain",
)


def main(names: list[str]) -> int:
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    broken = 0
    for scenario in chosen:
        outcome = scenario.run()
        drained = f"{outcome.drain_seconds:.1f} s" if outcome.drain_seconds else "not drained"
        cells = (
            outcome.scenario,
            outcome.due,
            outcome.delivered_once,
            outcome.duplicates,
            outcome.lost,
            outcome.left_unknown,
            outcome.failed_with_reason,
            outcome.settled_by_look_up,
            outcome.settled_by_callback,
            "-" if outcome.in_flight_when_disrupted is None else outcome.in_flight_when_disrupted,
            outcome.worker_restarts,
            "yes" if outcome.worker_exited else "no",
            outcome.sends_counted,
            drained,
        )
        print("| " + " | ".join(str(cell) for cell in cells) + " |", flush=True)
        if outcome.problems:
            broken += 1
            print("\n".join(outcome.problems), file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
