"""The ASGI app for uvicorn, built from the environment: `followup.web.main:app`."""

import gc

from followup.config import Settings
from followup.runtime import Runtime
from followup.web.app import create_app
from followup.worker import create_celery

settings = Settings.from_env()
runtime = Runtime(settings)
create_celery(settings, runtime)  # launches are handed to the workers through the broker
app = create_app(runtime)
# What is loaded by now lives as long as the process: keep the collector off it.
gc.freeze()
