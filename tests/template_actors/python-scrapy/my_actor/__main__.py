"""Entry point: Scrapy's settings module and the SDK's logging, then the actor under its reactor."""

from __future__ import annotations

import os

from apify.scrapy import initialize_logging, run_scrapy_actor

from .main import main

os.environ["SCRAPY_SETTINGS_MODULE"] = "my_actor.settings"

if __name__ == "__main__":
    initialize_logging()
    run_scrapy_actor(main())
