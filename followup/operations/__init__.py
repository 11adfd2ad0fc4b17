"""Knowing it works: beat's ticks, the workers' heartbeats, readiness verdicts,
Prometheus metrics, log lines for operators, and the standby beat's lock.

Shared by every process, so it sits with the core: it reads the models and the
settings and imports nothing above them.
"""
