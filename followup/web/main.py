"""The ASGI app for uvicorn, built from the environment: `followup.web.main:app`."""

import gc

from followup.config import Settings
from followup.runtime import Runtime
from followup.web.app import create_app

app = create_app(Runtime(Settings.from_env()))
# What is loaded by now lives as long as the process: keep the collector off it.
gc.freeze()
