// The npm apify-client, unmodified and with its default retries, against a Greenroom whose rate
// limit is low: every call must succeed, the client retrying the 429s it gets by itself.
// Env: GREENROOM_URL, GREENROOM_TOKEN; argv[2]: how many calls. Prints {"ok": N, "status": ...}.
// Run by tests/test_rate_limits.py.

import { ApifyClient } from 'apify-client';

const client = new ApifyClient({ baseUrl: process.env.GREENROOM_URL, token: process.env.GREENROOM_TOKEN });
const calls = Number(process.argv[2] || '12');
let ok = 0;
for (let i = 0; i < calls; i += 1) {
    const me = await client.user('me').get();
    if (me && me.username) ok += 1;
}
console.log(JSON.stringify({ ok }));
