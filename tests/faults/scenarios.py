"""The disruptions the fault suite runs, each against the same mix of due messages."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.faults.harness import FaultRun, Mix
from tests.faults.outcome import Outcome


@dataclass(frozen=True)
class Scenario:
    name: str
    # Programs the providers before the run starts.
    prepare: Callable[[FaultRun, Mix], None] = lambda run, mix: None
    # Done once, mid-run, when the first texts have gone out.
    disrupt: Callable[[FaultRun], None] | None = None
    smtp_refusals: int = 0
    peer_latency: float = 0.1
    # Twilio's "sent" callback, seconds after it took a message.
    callback_delay: float = 3.0
    # Only a crash mid-send may leave a message nobody can confirm (an email mid-DATA).
    may_leave_unknown: bool = False
    # Nothing in the scenario is a reason for a message to fail.
    no_failures: bool = True
    # Sends the provider took, then answered 500: each must end settled, by Twilio's
    # callback or a look-up, whichever comes first (that order is the machine's).
    ghosts_settled: int = 0
    # Rows a crash left in `sending` and a look-up settled.
    look_ups_needed: int = 0
    # False: a worker that exits stays down, as one started by hand would.
    supervised: bool = True
    # Settings for this scenario's processes (FOLLOWUP_* variables).
    settings: dict[str, str] = field(default_factory=dict)
    # What is due (default: the common mix), and how many texts go out before `disrupt`.
    mix: Mix | None = None
    when_sent: int = 12

    def run(self, mix: Mix | None = None) -> Outcome:
        mix = mix or self.mix or Mix()
        with FaultRun(
            self.name,
            smtp_refusals=self.smtp_refusals,
            peer_latency=self.peer_latency,
            callback_delay=self.callback_delay,
            supervised=self.supervised,
            settings=self.settings,
        ) as run:
            due = run.seed(mix)
            self.prepare(run, mix)
            outcome = run.run(due, disrupt=self.disrupt, when_sent=self.when_sent)
            outcome.problems += self._expectations(outcome)
            if outcome.problems:
                outcome.problems.append(run.worker_log())
            return outcome

    def _expectations(self, outcome: Outcome) -> list[str]:
        problems = []
        if outcome.left_unknown and not self.may_leave_unknown:
            problems.append(f"{outcome.left_unknown} left unknown")
        if outcome.failed_with_reason and self.no_failures:
            problems.append(f"{outcome.failed_with_reason} failed")
        settled = outcome.settled_by_callback + outcome.settled_by_look_up
        if settled < self.ghosts_settled:
            problems.append(f"only {settled} accepted-then-500 sends settled")
        if outcome.settled_by_look_up < self.look_ups_needed:
            problems.append(f"only {outcome.settled_by_look_up} settled by look-up")
        return problems


def _refused_before_accepting(run: FaultRun, mix: Mix) -> None:
    run.peer.fail_next(status=503, times=10)
    for phone in run.family_phones(mix)[:2]:
        run.peer.fail_next(status=503, to=phone)


def _rate_limited(run: FaultRun, mix: Mix) -> None:
    # More 429s in a row than a text has attempts: none may fail for it.
    run.peer.fail_next(status=429, code=20429, times=40)


def _ghosts(run: FaultRun, mix: Mix) -> None:
    run.peer.fail_next(status=500, accept=True, times=8)
    for phone in run.family_phones(mix)[:3]:
        # Both texts to the number accepted then answered 500: identical, ambiguous.
        run.peer.fail_next(status=500, accept=True, to=phone, times=2)
    run.peer.fail_next(status=503, to=run.family_phones(mix)[3])  # one ghost, one not


def _slow(run: FaultRun, mix: Mix) -> None:
    # Slower than TWILIO_TIMEOUT (2 s): taken but unanswered, and not taken at all.
    run.peer.fail_next(status=500, accept=True, delay=3.0, times=4)
    run.peer.fail_next(status=503, accept=False, delay=3.0, times=4)


def _kill_children(run: FaultRun) -> None:
    for pid in run.worker_children():
        os.kill(pid, signal.SIGKILL)


def _kill_main(run: FaultRun) -> None:
    os.kill(run.worker().pid, signal.SIGKILL)


def _restart_redis(run: FaultRun) -> None:
    run.redis.stop()
    time.sleep(2.0)
    run.redis.start()


def _restart_redis_thrice(run: FaultRun) -> None:
    for _ in range(3):
        run.redis.stop()
        time.sleep(0.3)
        run.redis.start()
        time.sleep(0.7)


SCENARIOS = [
    Scenario("no faults"),
    Scenario("5xx before accepting", prepare=_refused_before_accepting),
    Scenario("429 bursts", prepare=_rate_limited),
    Scenario("accepted, then 500", prepare=_ghosts, ghosts_settled=14),
    Scenario("slow replies", prepare=_slow, peer_latency=0.6),
    # Three 451s in a row may use up an email's attempts: it fails, with the reason.
    Scenario("SMTP 451", smtp_refusals=10, no_failures=False),
    # Twilio's callbacks come late here, so the look-ups of the dead worker's rows count.
    Scenario(
        "SIGKILL worker children",
        disrupt=_kill_children,
        may_leave_unknown=True,
        callback_delay=20.0,
        look_ups_needed=1,
        peer_latency=0.3,
    ),
    Scenario(
        "SIGKILL worker main process",
        disrupt=_kill_main,
        may_leave_unknown=True,
        callback_delay=20.0,
        look_ups_needed=1,
        peer_latency=0.3,
    ),
    # No supervisor restarts the worker in these: it must ride out the restarts itself.
    Scenario("Redis restarted", disrupt=_restart_redis, supervised=False),
    Scenario("Redis restarted three times", disrupt=_restart_redis_thrice, supervised=False),
    # Slow sending (6 texts a second, 30 a batch): batches run across the restart and
    # are acknowledged after the worker reconnected.
    Scenario(
        "Redis restarted under long batches",
        disrupt=_restart_redis,
        supervised=False,
        settings={"FOLLOWUP_SMS_RATE": "6", "FOLLOWUP_BATCH_SIZE": "30"},
    ),
    # One batch at 2 texts a second, Redis restarted while it runs: the task is still
    # unacknowledged when the worker closes its broken connection. kombu's own Redis
    # transport stopped the worker here ("'NoneType' object has no attribute
    # 'hostname'"); followup.operations.broker keeps it going.
    Scenario(
        "Redis restarted under one long batch",
        disrupt=_restart_redis,
        supervised=False,
        settings={"FOLLOWUP_SMS_RATE": "2", "FOLLOWUP_BATCH_SIZE": "2000"},
        mix=Mix(texts=16, families=0, emails=0),
        when_sent=3,
    ),
]
