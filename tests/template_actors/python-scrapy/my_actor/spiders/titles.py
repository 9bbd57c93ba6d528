"""One item per page (its URL and title); links on the page are followed within allowed_domains."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy import Request, Spider
from scrapy.http import Response


class TitlesSpider(Spider):
    name = "titles"

    def __init__(self, start_urls: list[str], allowed_domains: list[str] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = start_urls
        self.allowed_domains = allowed_domains or []

    async def start(self) -> AsyncIterator[Request]:
        # Unlike Scrapy's default start requests, these go through the duplicate filter: a link back
        # to the home page is not crawled twice.
        for url in self.start_urls:
            yield Request(url)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[dict[str, Any] | Request]:
        yield {"url": response.url, "title": response.css("title::text").get()}
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href)
