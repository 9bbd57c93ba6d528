// One dataset item per page (its URL and title); links on the same host are followed.
import { createCheerioRouter } from '@crawlee/cheerio';

export const router = createCheerioRouter();

router.addDefaultHandler(async ({ enqueueLinks, request, $, log, pushData }) => {
    const title = $('title').text();
    log.info(`${request.loadedUrl}: ${title}`);
    await pushData({ url: request.loadedUrl, title });
    await enqueueLinks();
});
