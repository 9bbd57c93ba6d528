// An actor written with the Apify SDK for JavaScript; its input's `mode` chooses what it does.
//
// - "echo" (default): OUTPUT {hello: input.name, input}, two dataset items, a status message.
// - "events": OUTPUT is the first systemInfo event the platform sent.
// - "wait": writes WAITING, then waits input.seconds; a graceful abort makes the SDK exit cleanly
//   (Actor.init's gracefulShutdown), after the aborting listener below wrote ABORTING.
// - "fail": Actor.fail() with exit code 91; "exit": process.exit(input.code).
// - "proxy": Actor.createProxyConfiguration({ groups: input.groups }) (which checks access through
//   the status page), then input.url fetched through newUrl(): OUTPUT {page, isManInTheMiddle}.
import http from 'node:http';

import { Actor } from 'apify';

// A GET of a plain http:// URL through an HTTP proxy URL (an absolute-URI request), with node alone.
function getThrough(proxyUrl, url) {
    const proxy = new URL(proxyUrl);
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    const headers = { Host: new URL(url).host, 'Proxy-Authorization': `Basic ${Buffer.from(credentials).toString('base64')}` };
    return new Promise((resolve, reject) => {
        http.get({ host: proxy.hostname, port: proxy.port, path: url, headers }, (response) => {
            let body = '';
            response.on('data', (chunk) => { body += chunk; });
            response.on('end', () => resolve(body));
        }).on('error', reject);
    });
}

await Actor.init();

const input = (await Actor.getInput()) ?? {};
const mode = input.mode ?? 'echo';
await Actor.setStatusMessage(`Working in mode ${mode}`);

if (mode === 'echo') {
    await Actor.setValue('OUTPUT', { hello: input.name ?? null, input });
    await Actor.pushData([{ n: 1, name: input.name ?? null }, { n: 2 }]);
    await Actor.setStatusMessage('Echoed the input');
} else if (mode === 'events') {
    const info = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no systemInfo event within 20 s')), 20_000);
        Actor.on('systemInfo', (data) => {
            clearTimeout(timer);
            resolve(data);
        });
    });
    await Actor.setValue('OUTPUT', info);
} else if (mode === 'wait') {
    const persisted = [];
    Actor.on('persistState', (data) => persisted.push(data?.isMigrating ?? null));
    Actor.on('aborting', async () => {
        await new Promise((resolve) => setTimeout(resolve, 500)); // persistState follows aborting
        await Actor.setValue('ABORTING', { heard: true, persistState: persisted });
        console.log('Heard aborting; ending cleanly');
    });
    await Actor.setValue('WAITING', { waiting: true });
    await new Promise((resolve) => setTimeout(resolve, (input.seconds ?? 60) * 1000));
    await Actor.setValue('OUTPUT', { aborted: false });
} else if (mode === 'proxy') {
    const proxy = await Actor.createProxyConfiguration({ groups: input.groups });
    const page = await getThrough(await proxy.newUrl('sdk_session'), input.url);
    await Actor.setValue('OUTPUT', { page, isManInTheMiddle: proxy.isManInTheMiddle });
} else if (mode === 'fail') {
    await Actor.fail('Failed on purpose', { exitCode: 91 });
} else if (mode === 'exit') {
    process.exit(input.code ?? 1);
}

await Actor.exit();
