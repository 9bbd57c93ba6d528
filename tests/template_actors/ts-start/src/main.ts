// The headings of the page at INPUT's url, one dataset item each (as Apify's ts-start template does,
// with fetch and a regular expression instead of axios and cheerio).
import { Actor, log } from 'apify';

interface Input {
    url: string;
}

interface Heading {
    level: string;
    text: string;
}

await Actor.init();

const input = await Actor.getInput<Input>();
if (!input) throw new Error('Input is missing!');

const response = await fetch(input.url);
const html = await response.text();

const headings: Heading[] = [...html.matchAll(/<(h[1-6])>(.*?)<\/\1>/g)].map((match) => ({
    level: match[1],
    text: match[2],
}));
for (const heading of headings) log.info('Extracted heading', { ...heading });

await Actor.pushData(headings);
await Actor.setValue('OUTPUT', {
    count: headings.length,
    greeting: process.env.GREETING,
    nodeEnv: process.env.NODE_ENV,
});

await Actor.exit();
