"""Signed, expiring links: one-tap 0-10 answers and one-click unsubscribe in patients'
emails; the page of a reminder's exercises and its one-tap "done"; an outcome form; an
appointment reminder's one-tap Confirm and Ask to reschedule.
Staff notifications link to the alert's page in the console, which needs signing in:
that link is no key."""

from __future__ import annotations

from itsdangerous import BadData, URLSafeTimedSerializer

from followup.config import Settings
from followup.exceptions import InvalidInput

SCORES = range(0, 11)
# The answers to an appointment reminder, as its C and R by text.
APPOINTMENT_ANSWERS = ("confirm", "reschedule")


class InvalidLink(InvalidInput):
    """A link that was altered, expired, or never ours."""


class Links:
    def __init__(self, settings: Settings) -> None:
        self.base = settings.public_url.rstrip("/")
        self.max_age = settings.link_max_age_days * 24 * 3600
        self._answers = URLSafeTimedSerializer(settings.secret_key, salt="followup-answer")
        self._unsubscribes = URLSafeTimedSerializer(
            settings.secret_key, salt="followup-unsubscribe"
        )
        # An exercise reminder's page of instructions, and its one-tap "done today".
        self._exercises = URLSafeTimedSerializer(settings.secret_key, salt="followup-exercises")
        self._done = URLSafeTimedSerializer(settings.secret_key, salt="followup-done")
        # An outcome form (PSFS) for one time point of an episode.
        self._measures = URLSafeTimedSerializer(settings.secret_key, salt="followup-measures")
        self._appointments = URLSafeTimedSerializer(
            settings.secret_key, salt="followup-appointment"
        )

    def answer_urls(self, message_id: int) -> list[str]:
        """One URL per score 0-10 for the check-in email `message_id`."""
        return [f"{self.base}/r/{self._answers.dumps([message_id, score])}" for score in SCORES]

    def unsubscribe_url(self, message_id: int) -> str:
        return f"{self.base}/u/{self._unsubscribes.dumps(message_id)}"

    def exercises_url(self, message_id: int) -> str:
        return f"{self.base}/x/{self._exercises.dumps(message_id)}"

    def done_url(self, message_id: int) -> str:
        return f"{self.base}/d/{self._done.dumps(message_id)}"

    def measures_url(self, message_id: int) -> str:
        """The outcome form of the time point message `message_id` stands for."""
        return f"{self.base}/m/{self._measures.dumps(message_id)}"

    def appointment_urls(self, message_id: int) -> dict[str, str]:
        """The reminder `message_id`'s one-tap answers, by answer ("confirm", "reschedule")."""
        return {
            kind: f"{self.base}/a/{self._appointments.dumps([message_id, kind])}"
            for kind in APPOINTMENT_ANSWERS
        }

    def read_appointment(self, token: str) -> tuple[int, str]:
        """(message id, answer) from an appointment link; `InvalidLink` if it is not valid."""
        data = self._load(self._appointments, token)
        if (
            not isinstance(data, list)
            or len(data) != 2
            or not isinstance(data[0], int)
            or isinstance(data[0], bool)
            or data[1] not in APPOINTMENT_ANSWERS
        ):
            raise InvalidLink("this link is not one of ours")
        return data[0], data[1]

    def read_exercises(self, token: str) -> int:
        return self._message_id(self._exercises, token)

    def read_done(self, token: str) -> int:
        return self._message_id(self._done, token)

    def read_measures(self, token: str) -> int:
        return self._message_id(self._measures, token)

    def alert_url(self, alert_id: int) -> str:
        """The alert's console page; whoever opens it signs in first."""
        return f"{self.base}/console/alerts/{alert_id}"

    def read_answer(self, token: str) -> tuple[int, int]:
        """(message id, score) from an answer link; `InvalidLink` if it is not valid."""
        data = self._load(self._answers, token)
        if (
            not isinstance(data, list)
            or len(data) != 2
            or not all(isinstance(x, int) for x in data)
            or data[1] not in SCORES
        ):
            raise InvalidLink("this link is not one of ours")
        return data[0], data[1]

    def read_unsubscribe(self, token: str) -> int:
        return self._message_id(self._unsubscribes, token)

    def _message_id(self, serializer: URLSafeTimedSerializer, token: str) -> int:
        data = self._load(serializer, token)
        if not isinstance(data, int) or isinstance(data, bool):
            raise InvalidLink("this link is not one of ours")
        return data

    def _load(
        self, serializer: URLSafeTimedSerializer, token: str, *, max_age: int | None = None
    ) -> object:
        try:
            return serializer.loads(token, max_age=self.max_age if max_age is None else max_age)
        except BadData:
            raise InvalidLink("this link has expired or was changed") from None
