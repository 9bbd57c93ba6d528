// CheerioCrawler from the input's start URLs, every request through Apify Proxy (checked first).
import { CheerioCrawler } from '@crawlee/cheerio';
import { Actor } from 'apify';

import { router } from './routes.js';

await Actor.init();

const { startUrls = [], maxRequestsPerCrawl } = (await Actor.getInput()) ?? {};
const proxyConfiguration = await Actor.createProxyConfiguration({ checkAccess: true });

const crawler = new CheerioCrawler({ proxyConfiguration, maxRequestsPerCrawl, requestHandler: router });
await crawler.run(startUrls);

await Actor.exit();
