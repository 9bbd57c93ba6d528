// The official npm apify-client, unmodified, on the operations of issue "Apify's answers, exactly":
// a run's default dataset and store renamed and deleted, dataset statistics, a build's OpenAPI
// definition, deleting a build, and the monthly usage.
//
// Env: GREENROOM_URL (the API root, without /v2) and GREENROOM_TOKEN. Prints one JSON line of
// observations and exits 0, or prints the failed step on stderr and exits 1.
// Run by tests/test_apify_client_js_ops.py, which asserts on the observations.

import { ApifyClient } from 'apify-client';

const baseUrl = process.env.GREENROOM_URL;
const token = process.env.GREENROOM_TOKEN;
if (!baseUrl || !token) {
    console.error('ops.mjs: set GREENROOM_URL and GREENROOM_TOKEN');
    process.exit(2);
}
const client = new ApifyClient({ baseUrl, token, maxRetries: 0 });
const out = {};
let current = 'start';
setTimeout(() => {
    console.error(`ops.mjs TIMED OUT at step "${current}"`);
    process.exit(1);
}, 90_000).unref();

async function step(name, fn) {
    current = name;
    out[name] = await fn();
}

try {
    const actor = await client.actors().create({
        name: 'js-ops',
        versions: [{ versionNumber: '0.0', sourceType: 'PYTHON_CALLABLE', callable: 'tests.actors:echo' }],
    });
    const run = await client.actor(actor.id).call({ js: 1 }, { waitSecs: 60 });
    await step('statistics', async () => (await client.run(run.id).dataset().getStatistics()));
    await step('renamed', async () => ({
        dataset: (await client.run(run.id).dataset().update({ name: 'js-ops-ds' })).name,
        store: (await client.run(run.id).keyValueStore().update({ name: 'js-ops-kv' })).name,
    }));
    await step('openApi', async () => {
        const doc = await client.build(run.buildId).getOpenApiDefinition();
        return { buildId: doc.info['x-build-id'], paths: Object.keys(doc.paths).sort() };
    });
    await step('buildDelete', async () => {
        const newer = await client.actor(actor.id).build('0.0', { waitForFinish: 60 });
        await client.build(run.buildId).delete();
        return {
            newerStatus: newer.status,
            oldGone: (await client.build(run.buildId).get()) === undefined,
            newerThere: (await client.build(newer.id).get())?.id === newer.id,
        };
    });
    await step('usage', async () => {
        const usage = await client.user().monthlyUsage();
        return {
            startIsDate: usage.usageCycle.startAt instanceof Date,
            dayIsDate: usage.dailyServiceUsages.every((d) => d.date instanceof Date),
            computeUnits: usage.monthlyServiceUsage.ACTOR_COMPUTE_UNITS.quantity,
        };
    });
    await step('deleted', async () => {
        await client.run(run.id).dataset().delete();
        await client.run(run.id).keyValueStore().delete();
        return {
            dataset: (await client.dataset(run.defaultDatasetId).get()) === undefined,
            store: (await client.keyValueStore(run.defaultKeyValueStoreId).get()) === undefined,
        };
    });
    console.log(JSON.stringify(out));
} catch (err) {
    console.error(`ops.mjs failed at step "${current}": ${err?.statusCode} ${err?.type} ${err?.path ?? ''}`);
    console.error(err?.stack ?? err);
    process.exit(1);
}
