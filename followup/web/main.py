"""The ASGI app for uvicorn, built from the environment: `followup.web.main:app`."""

import gc

from followup.config import Settings
from followup.runtime import Runtime
from followup.web.app import create_app
from followup.web.periodic import runs_in_process, with_in_process_beat
from followup.worker import create_celery

settings = Settings.from_env()
runtime = Runtime(settings)
celery = create_celery(settings, runtime)  # launches are handed to the workers through the broker
# With no broker in development, the periodic work (celery beat's) runs in this process.
lifespan = with_in_process_beat(celery) if runs_in_process(settings) else None
app = create_app(runtime, lifespan=lifespan)
# What is loaded by now lives as long as the process: keep the collector off it.
gc.freeze()
