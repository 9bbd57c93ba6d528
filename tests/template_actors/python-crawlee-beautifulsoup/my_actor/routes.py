"""One dataset item per page (its URL and title); links on the page are followed."""

from __future__ import annotations

from crawlee.crawlers import BeautifulSoupCrawlingContext
from crawlee.router import Router

router = Router[BeautifulSoupCrawlingContext]()


@router.default_handler
async def page(context: BeautifulSoupCrawlingContext) -> None:
    title = context.soup.title.string if context.soup.title else None
    context.log.info(f"{context.request.url}: {title}")
    await context.push_data({"url": context.request.url, "title": title})
    await context.enqueue_links()
