"""The per-sender send rate, shared through the real Redis by every process."""

from __future__ import annotations

import multiprocessing
import time

import redis as redis_lib

from followup.delivery.throttle import RedisTokenBucket
from followup.runtime import Runtime
from tests.conftest import REDIS_URL, add_patient, enrol_visit, live_settings, tick
from tests.delivery.test_dispatch import rows
from tests.peers.twilio_server import TwilioPeer


def test_the_bucket_gives_its_burst_then_one_token_per_interval(redis: redis_lib.Redis) -> None:
    bucket = RedisTokenBucket(redis, rate=10, burst=2)
    assert [bucket.try_take("+12015550199", now_ms=0) for _ in range(3)] == [0, 0, 100]
    assert bucket.try_take("+12015550199", now_ms=50) == 50
    assert bucket.try_take("+12015550199", now_ms=100) == 0
    assert bucket.try_take("+12015550188", now_ms=100) == 0  # another sender, its own bucket


def _take_for(seconds: float, rate: float, label: str) -> None:
    client = redis_lib.Redis.from_url(REDIS_URL)
    bucket = RedisTokenBucket(client, rate=rate, burst=1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        bucket.acquire("+12015550199")
        client.rpush("taken", f"{label}:{time.time()}")
    client.close()


def test_two_processes_together_stay_within_the_rate(redis: redis_lib.Redis) -> None:
    rate, seconds = 20.0, 1.5
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_take_for, args=(seconds, rate, n)) for n in "ab"]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    taken = [e.decode() if isinstance(e, bytes) else e for e in redis.lrange("taken", 0, -1)]
    times = sorted(float(entry.split(":")[1]) for entry in taken)
    # Every process got tokens, and together no more than the rate allows.
    assert {entry.split(":")[0] for entry in taken} == {"a", "b"}
    span = times[-1] - times[0]
    assert len(taken) <= rate * span + 1 + 1  # the burst, plus one at the edge


def test_the_dispatcher_takes_a_token_per_sms_from_the_senders_bucket(
    settings: object, twilio_server: TwilioPeer, redis: redis_lib.Redis
) -> None:
    runtime = Runtime(
        live_settings(settings, twilio_server, sms_rate=50.0, redis_url=REDIS_URL)  # type: ignore[arg-type]
    )
    for n in range(3):
        enrol_visit(runtime, add_patient(runtime, f"P{n}", phone=f"+1201555012{n}"), ref=f"V{n}")
    tick(runtime, rows(runtime)[0].due_at)
    assert len(twilio_server.messages) == 3
    assert redis.exists("followup:rate:+12015550199")
    runtime.close()


def test_a_tick_claims_no_more_texts_than_the_rate_sends_soon(runtime: Runtime) -> None:
    from followup.delivery.claims import claim_due, sms_room

    slow = runtime.settings.with_overrides(sms_rate=0.05)  # 6 texts in the 2-minute horizon
    for n in range(8):
        enrol_visit(runtime, add_patient(runtime, f"P{n}", phone=f"+1201555012{n}"), ref=f"V{n}")
    due = rows(runtime)[0].due_at
    with runtime.sessions() as session:
        room = sms_room(session, slow)
    assert room == 6
    first = claim_due(runtime.sessions, now=due, limit=100, batch_size=100, sms_limit=room)
    assert sum(len(b.message_ids) for b in first) == 6
    with runtime.sessions() as session:
        assert sms_room(session, slow) == 0
        assert sms_room(session, runtime.settings) is None  # no rate, no cap
