"""Crawl from the input's start URLs with BeautifulSoupCrawler; routes.py handles each page."""

from __future__ import annotations

from apify import Actor
from crawlee.crawlers import BeautifulSoupCrawler

from .routes import router


async def main() -> None:
    async with Actor:
        actor_input = await Actor.get_input() or {}
        start_urls = [source["url"] for source in actor_input.get("start_urls", [])]
        crawler = BeautifulSoupCrawler(
            max_requests_per_crawl=actor_input.get("max_requests"),
            request_handler=router,
        )
        await crawler.run(start_urls)
