// The official npm apify-client, unmodified, against a running Greenroom.
//
// Env: GREENROOM_URL (the API root, without /v2: the JS client always appends it) and
// GREENROOM_TOKEN. The worker must be able to import tests.actors (the repository root on its path).
// Prints one JSON line of observations on stdout and exits 0, or prints which step failed (with
// the API error's status, type and path) on stderr and exits 1.
// Run by tests/test_apify_client_js.py, which asserts on the printed observations as well.

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { ApifyClient } from 'apify-client';

// The CommonJS build, the one apify-client loads: call() checks `log instanceof Log` against it.
const { Log, Logger, LEVELS } = createRequire(import.meta.url)('@apify/log');

const baseUrl = process.env.GREENROOM_URL;
const token = process.env.GREENROOM_TOKEN;
if (!baseUrl || !token) {
    console.error('check.mjs: set GREENROOM_URL and GREENROOM_TOKEN');
    process.exit(2);
}
// No retries: a 5xx or a dropped connection must fail the check, not be papered over.
const client = new ApifyClient({ baseUrl, token, maxRetries: 0 });
const out = {};
let current = 'start';

// waitForFinish() without waitSecs waits forever: name the step that hung instead.
setTimeout(() => {
    console.error(`check.mjs TIMED OUT after 90 s at step "${current}"`);
    process.exit(1);
}, 90_000).unref();

const millis = {};

async function step(name, fn) {
    current = name;
    const started = Date.now();
    out[name] = await fn();
    millis[name] = Date.now() - started;
}

function callableActor(name, target) {
    return {
        name,
        versions: [{ versionNumber: '0.0', sourceType: 'PYTHON_CALLABLE', callable: `tests.actors:${target}` }],
    };
}

// Collects the lines actor.call() streams from the run log (instead of printing them).
class Collect extends Logger {
    constructor(lines) {
        super({});
        this.lines = lines;
    }

    _log(level, message) {
        this.lines.push(message);
        return message;
    }
}

async function output(run) {
    const record = await client.keyValueStore(run.defaultKeyValueStoreId).getRecord('OUTPUT');
    assert.ok(record, `run ${run.id} has no OUTPUT record`);
    return record.value;
}

async function waitUntilRunning(runId) {
    const deadline = Date.now() + 30_000;
    for (;;) {
        const run = await client.run(runId).get();
        if (run.status === 'RUNNING') return run;
        assert.ok(Date.now() < deadline, `run ${runId} did not start running (status ${run.status})`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

async function main() {
    const ids = {};
    await step('user', async () => {
        const me = await client.user('me').get();
        assert.ok(me && me.id && me.username, `users/me gave ${JSON.stringify(me)}`);
        return { id: me.id, username: me.username };
    });

    await step('createActors', async () => {
        const echo = await client.actors().create(callableActor('js-echo', 'echo'));
        const sleeper = await client.actors().create(callableActor('js-sleep', 'sleep'));
        assert.equal(echo.name, 'js-echo');
        assert.ok(echo.createdAt instanceof Date, 'createdAt was not parsed as a date');
        ids.echo = echo.id;
        ids.sleeper = sleeper.id;
        const byName = await client.actor(`${out.user.username}/js-echo`).get();
        // get-or-create code: a missing actor is undefined (only a 404 record-not-found is).
        const missing = await client.actor(`${out.user.username}/no-such-actor`).get();
        return {
            id: echo.id,
            byNameId: byName.id,
            versions: echo.versions.map((v) => v.sourceType),
            missingIsUndefined: missing === undefined,
        };
    });

    await step('createTask', async () => {
        const task = await client.tasks().create({ actId: ids.echo, name: 'js-task', input: { a: 1 } });
        ids.task = task.id;
        return { id: task.id, actId: task.actId, name: task.name };
    });

    await step('taskCall', async () => {
        const run = await client.task(ids.task).call({ b: 2 });
        assert.equal(run.status, 'SUCCEEDED', `task run ${run.id} ended ${run.status}`);
        assert.ok(run.finishedAt instanceof Date);
        return { id: run.id, status: run.status, actorTaskId: run.actorTaskId, output: await output(run) };
    });

    await step('taskCallNoInput', async () => {
        // No input: the JS client sends Content-Length: 0 and no body.
        const run = await client.task(ids.task).call();
        assert.equal(run.status, 'SUCCEEDED', `task run ${run.id} ended ${run.status}`);
        return { id: run.id, output: await output(run) };
    });

    await step('taskLastRun', async () => {
        const last = await client.task(ids.task).lastRun().get();
        const succeeded = await client.task(ids.task).lastRun({ status: 'SUCCEEDED' }).get();
        const lastOutput = await client.task(ids.task).lastRun().keyValueStore().getRecord('OUTPUT');
        return { id: last.id, succeededId: succeeded.id, output: lastOutput.value };
    });

    await step('actorCall', async () => {
        // With a Log, call() streams the run log (GET .../log?stream=1&raw=1) while it waits.
        const lines = [];
        const log = new Log({ level: LEVELS.DEBUG, logger: new Collect(lines) });
        const run = await client.actor(ids.echo).call({ hello: 'js' }, { log });
        assert.equal(run.status, 'SUCCEEDED', `actor run ${run.id} ended ${run.status}`);
        ids.actorRun = run.id;
        const items = await client.dataset(run.defaultDatasetId).listItems();
        return { id: run.id, status: run.status, output: await output(run), items: items.items, streamed: lines };
    });

    await step('actorStartWait', async () => {
        const started = await client.actor(ids.echo).start({ n: 3 });
        const finished = await client.run(started.id).waitForFinish({ waitSecs: 60 });
        assert.equal(finished.status, 'SUCCEEDED', `run ${started.id} ended ${finished.status}`);
        const again = await client.run(started.id).waitForFinish();
        return { startedStatus: started.status, status: finished.status, againStatus: again.status, exitCode: finished.exitCode, output: await output(finished) };
    });

    await step('abort', async () => {
        const started = await client.actor(ids.sleeper).start({ seconds: 60 });
        await waitUntilRunning(started.id);
        const aborting = await client.run(started.id).abort();
        const finished = await client.run(started.id).waitForFinish({ waitSecs: 30 });
        const graceful = await client.actor(ids.sleeper).start({ seconds: 60 });
        await waitUntilRunning(graceful.id);
        await client.run(graceful.id).abort({ gracefully: true }); // sent as gracefully=1
        const gracefulEnd = await client.run(graceful.id).waitForFinish({ waitSecs: 60 });
        return { abortStatus: aborting.status, status: finished.status, gracefulStatus: gracefulEnd.status };
    });

    await step('log', async () => {
        const text = await client.run(ids.actorRun).log().get();
        const viaLogs = await client.log(ids.actorRun).get();
        const missing = await client.log('NoSuchRun00000000').get();
        return { text, sameViaLogs: text === viaLogs, missing: missing === undefined };
    });

    await step('runsList', async () => {
        const all = await client.runs().list();
        const page = await client.runs().list({ desc: true, limit: 2, offset: 1 });
        const ofActor = await client.actor(ids.echo).runs().list({ status: 'SUCCEEDED' });
        const ofTask = await client.task(ids.task).runs().list();
        return {
            total: all.total,
            count: all.count,
            statuses: all.items.map((r) => r.status),
            page: { desc: page.desc, limit: page.limit, offset: page.offset, count: page.items.length },
            pageIds: page.items.map((r) => r.id),
            allIds: all.items.map((r) => r.id),
            actorTotal: ofActor.total,
            taskTotal: ofTask.total,
        };
    });

    await step('keyValueStore', async () => {
        const store = await client.keyValueStores().getOrCreate('js-store');
        const same = await client.keyValueStores().getOrCreate('js-store');
        const kvs = client.keyValueStore(store.id);
        const big = { x: 'y'.repeat(5000) }; // over 1 KiB: the client compresses the body (br, or gzip)
        await kvs.setRecord({ key: 'json', value: { a: 1, list: [1, 2], s: 'žluť' } });
        await kvs.setRecord({ key: 'text', value: 'hello', contentType: 'text/plain' });
        await kvs.setRecord({ key: 'big', value: big });
        await kvs.setRecord({ key: 'bigText', value: 'z'.repeat(3000) });
        await kvs.setRecord({ key: 'bin', value: Buffer.from([0, 1, 2, 255]), contentType: 'application/octet-stream' });
        const json = await kvs.getRecord('json');
        const text = await kvs.getRecord('text');
        const bigBack = await kvs.getRecord('big');
        const bigTextBack = await kvs.getRecord('bigText');
        const bin = await kvs.getRecord('bin');
        assert.deepEqual(bigBack.value, big, 'the compressed JSON record did not come back equal');
        assert.equal(bigTextBack.value, 'z'.repeat(3000), 'the compressed text record did not come back equal');
        const keys = await kvs.listKeys();
        const first = await kvs.listKeys({ limit: 2 });
        const rest = await kvs.listKeys({ exclusiveStartKey: first.nextExclusiveStartKey });
        const exists = [await kvs.recordExists('json'), await kvs.recordExists('missing')];
        await kvs.deleteRecord('text');
        return {
            sameStore: same.id === store.id,
            json: { value: json.value, contentType: json.contentType },
            text: { value: text.value, contentType: text.contentType },
            bigEqual: true,
            bin: { hex: Buffer.from(bin.value).toString('hex'), contentType: bin.contentType },
            keys: keys.items.map((k) => k.key),
            sizes: Object.fromEntries(keys.items.map((k) => [k.key, k.size])),
            first: { keys: first.items.map((k) => k.key), isTruncated: first.isTruncated, next: first.nextExclusiveStartKey },
            rest: rest.items.map((k) => k.key),
            exists,
            missing: (await kvs.getRecord('missing')) === undefined,
            deleted: (await kvs.getRecord('text')) === undefined,
        };
    });

    await step('dataset', async () => {
        const created = await client.datasets().getOrCreate('js-dataset');
        const ds = client.dataset(created.id);
        await ds.pushItems([0, 1, 2, 3, 4].map((n) => ({ n, label: `item ${n}`, extra: { deep: n } })));
        await ds.pushItems({ n: 5, label: 'item 5', extra: { deep: 5 } });
        // Over 1 KiB: compressed.
        await ds.pushItems([6, 7, 8, 9].map((n) => ({ n, label: `item ${n}`, extra: { deep: n }, pad: 'p'.repeat(400) })));
        const all = await ds.listItems();
        const page = await ds.listItems({ offset: 2, limit: 3 });
        const desc = await ds.listItems({ desc: true, limit: 2 });
        // The JS client sends booleans as 1 and 0 (desc=0, bom=0), where the Python client sends true/false.
        const asc = await ds.listItems({ desc: false, limit: 2 });
        const fields = await ds.listItems({ fields: ['n', 'label'], limit: 2 });
        const csv = (await ds.downloadItems('csv', { fields: ['n', 'label'], limit: 3 })).toString('utf-8');
        const csvAll = (await ds.downloadItems('csv')).toString('utf-8');
        const csvNoBom = (await ds.downloadItems('csv', { fields: ['n'], limit: 1, bom: false })).toString('utf-8');
        const info = await ds.get();
        return {
            total: all.total,
            count: all.count,
            ns: all.items.map((i) => i.n),
            page: { ns: page.items.map((i) => i.n), offset: page.offset, limit: page.limit, total: page.total },
            desc: { ns: desc.items.map((i) => i.n), desc: desc.desc },
            asc: { ns: asc.items.map((i) => i.n), desc: asc.desc },
            fields: fields.items,
            csv,
            csvRows: csvAll.trim().split(/\r?\n/).length,
            csvNoBom,
            itemCount: info.itemCount,
        };
    });

    await step('publicUrls', async () => {
        // publicBaseUrl: the base the client's public-URL methods put in the URLs (default api.apify.com).
        const pub = new ApifyClient({ baseUrl, publicBaseUrl: baseUrl, token, maxRetries: 0 });
        const ds = pub.dataset((await pub.datasets().getOrCreate('js-signed')).id);
        await ds.pushItems([{ n: 1 }, { n: 2 }]);
        const kvs = pub.keyValueStore((await pub.keyValueStores().getOrCreate('js-signed')).id);
        await kvs.setRecord({ key: 'shared', value: { ok: true } });
        const urls = {
            items: await ds.createItemsPublicUrl({ limit: 1, expiresInSecs: 600 }),
            keys: await kvs.createKeysPublicUrl(),
            record: await kvs.getRecordPublicUrl('shared'),
        };
        // Plain fetch, no token: what someone given the link does.
        const opened = {};
        for (const [name, url] of Object.entries(urls)) {
            const response = await fetch(url);
            opened[name] = { status: response.status, body: await response.json() };
        }
        const tampered = new URL(urls.items);
        tampered.searchParams.set('signature', `${tampered.searchParams.get('signature')}x`);
        const refused = await fetch(tampered);
        return {
            signed: Object.values(urls).every((url) => new URL(url).searchParams.has('signature')),
            onBase: Object.values(urls).every((url) => url.startsWith(`${baseUrl}/v2/`)),
            opened,
            refused: { status: refused.status, type: (await refused.json()).error.type },
        };
    });
    // Last: its run would change the counts the steps above assert.
    await step('rebootMetamorph', async () => {
        const started = await client.actor(ids.sleeper).start({ seconds: 60 });
        await waitUntilRunning(started.id);
        const rebooted = await client.run(started.id).reboot();
        const morphed = await client.run(started.id).metamorph(ids.echo, { m: 1 });
        const finished = await client.run(started.id).waitForFinish({ waitSecs: 60 });
        let refusedStatus = null;
        try {
            await client.actor(ids.sleeper).lastRun().reboot();
        } catch (err) {
            refusedStatus = err.statusCode;
        }
        return {
            rebootStatus: rebooted.status,
            rebootCount: rebooted.stats.rebootCount,
            metamorphs: morphed.metamorphs.map((m) => ({ actorId: m.actorId, inputKey: m.inputKey })),
            status: finished.status,
            output: await output(finished),
            refusedStatus,
        };
    });
}

try {
    await main();
    console.log(JSON.stringify({ ...out, millis }));
} catch (err) {
    const api = err && err.statusCode !== undefined
        ? ` [HTTP ${err.statusCode} type=${err.type} ${String(err.httpMethod).toUpperCase()} ${err.path}]`
        : '';
    console.error(`check.mjs FAILED at step "${current}": ${err && err.message}${api}`);
    if (!api && err && err.stack) console.error(err.stack);
    process.exit(1);
}
