"""`followup serve` in a thread: the web app under uvicorn on a loopback port, with
the proxy settings `followup serve` gives it and, as it, no access log (a path can
carry a phone number)."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from followup.runtime import Runtime
from followup.web.app import create_app
from tests.conftest import free_port


class LiveServer:
    def __init__(self, runtime: Runtime, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        proxies = runtime.settings.proxies
        config = uvicorn.Config(
            create_app(runtime),
            host="127.0.0.1",
            port=self.port,
            log_level="info",
            access_log=False,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=proxies or None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        # uvicorn 0.55 logs access lines whenever its logger has a handler, whatever
        # `access_log` says, and pytest's log capture gives it one: keep them below it.
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
