"""Worker entry point: `celery -A followup worker` and `celery -A followup beat`."""

from followup.config import Settings
from followup.worker import create_celery

app = create_celery(Settings.from_env())
