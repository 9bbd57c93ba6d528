// Greets whoever asks, at any path (Greenroom's test, shaped as Apify's ts-standby template: a
// Node http server on the SDK's standby port, after Actor.init()).
import http from 'http';

import { Actor } from 'apify';

await Actor.init();

const server = http.createServer((req, res) => {
    // The platform's readiness probe: answered before the server counts as ready.
    if (req.headers['x-apify-container-server-readiness-probe']) {
        res.writeHead(200);
        res.end('ready');
        return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`TypeScript standby greets ${req.url}\n`);
});

server.listen(Actor.config.get('standbyPort'));
