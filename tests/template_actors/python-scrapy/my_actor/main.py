"""Read the input, let the SDK wire Scrapy to the platform (scheduler on the request queue, items to the
dataset, the proxy configuration), and crawl."""

from __future__ import annotations

from apify import Actor
from apify.scrapy import apply_apify_settings
from scrapy.crawler import AsyncCrawlerRunner

from .spiders.titles import TitlesSpider


async def main() -> None:
    async with Actor:
        actor_input = await Actor.get_input() or {}
        settings = apply_apify_settings(proxy_config=actor_input.get("proxyConfiguration"))
        runner = AsyncCrawlerRunner(settings)
        await runner.crawl(
            TitlesSpider,
            start_urls=[source["url"] for source in actor_input.get("startUrls", [])],
            allowed_domains=actor_input.get("allowedDomains"),
        )
