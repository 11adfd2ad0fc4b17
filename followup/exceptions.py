"""The exception tree. Callers catch the branch they can act on.

FollowupError
├── ConfigurationError          settings that cannot work
├── InvalidInput                bad data from a person or a file; nothing was changed
│   └── ImportErrors            every bad row of a CSV file, with line numbers
├── TemplateProblem             a template that does not render with its data
├── NotFound                    a patient, visit or plan that does not exist
└── DeliveryError               a channel could not hand a message over
    ├── TransientDeliveryError  nothing was sent: safe to retry later
    │   └── HeldBackError       held back before the provider took it (429, our rate
    │                           limiter unreachable): retried without counting an attempt
    ├── AmbiguousDeliveryError  the provider may have accepted it: reconcile first
    └── PermanentDeliveryError  refused for good (bad number, unsubscribed, landline)
"""

from __future__ import annotations


class FollowupError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigurationError(FollowupError):
    pass


class InvalidInput(FollowupError):
    pass


class ImportErrors(InvalidInput):
    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"line {line}: {problem}" for line, problem in problems)
        rows = "1 bad row" if len(problems) == 1 else f"{len(problems)} bad rows"
        super().__init__(f"{rows}, nothing imported:\n{lines}")


class TemplateProblem(FollowupError):
    pass


class NotFound(FollowupError):
    pass


class DeliveryError(FollowupError):
    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TransientDeliveryError(DeliveryError):
    pass


class HeldBackError(TransientDeliveryError):
    pass


class AmbiguousDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass
