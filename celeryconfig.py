"""Celery policy for followup. The broker URL comes from FOLLOWUP_REDIS_URL.

Celery moves work; the database stores it. No task uses a long eta or countdown:
future messages are rows with a due time, claimed by the beat-driven dispatch task.
"""

# A task is acknowledged only after it ran, and requeued if its worker dies mid-way.
# Safe because every state change in a task is conditional on the row's state.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True

timezone = "UTC"
enable_utc = True

task_default_queue = "followup"
task_routes = {"followup.tasks.*": {"queue": "followup"}}
broker_connection_retry_on_startup = True
# Longer than the longest batch a worker runs; after this an unacknowledged task is
# delivered again, which the conditional updates make harmless. Recovery does not wait
# for it: rows carry their own leases (followup.delivery.leases).
broker_transport_options = {"visibility_timeout": 3600}
# A batch running when the broker connection drops finishes: its rows are settled in
# the database, not by redelivering the task.
worker_cancel_long_running_tasks_on_connection_loss = False

# Any number of beats may run; the one holding the lock in PostgreSQL schedules.
beat_scheduler = "followup.operations.standby:StandbyScheduler"
# Dispatch and reconcile every FOLLOWUP_TICK_SECONDS (followup.worker sets it).
beat_schedule = {
    # Also recovers the rows of workers that died (their leases ran out).
    "dispatch-due": {"task": "followup.tasks.dispatch_due", "schedule": 15.0},
    # Looks up maybe-sent texts; they are due 30 s after the ambiguous send.
    "reconcile": {"task": "followup.tasks.reconcile", "schedule": 15.0},
    # Unacknowledged alerts are repeated, then sent to the second tier.
    "escalate-alerts": {"task": "followup.tasks.escalate_alerts", "schedule": 60.0},
    # The outcomes page reads the latest snapshot, taken every REFRESH_EVERY
    # (followup.care.outcome_snapshot; followup.worker sets it).
    "refresh-outcomes": {"task": "followup.tasks.refresh_outcomes", "schedule": 900.0},
}
