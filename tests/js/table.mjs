// The method table's JS side (tests/clients): the official npm apify-client, unmodified.
//
// `node table.mjs list`: the public methods of ApifyClient and of every resource and collection
// client reachable from it, found by walking their prototypes; a method that returns a client without
// a request (actor.runs()) is a factory, walked into. Prints {"methods": [...], "factories": [...]}.
//
// `node table.mjs run` (env GREENROOM_URL, GREENROOM_TOKEN; stdin {"world": {...}, "rows": [{"key",
// "body"}]}): runs each row's body, an async function of `c` (the client) and `w` (the world), in
// order. Prints {key: {"ok": true, "value"} | {"ok": false, "error"}} as its last line.

import { createRequire } from 'node:module';

import { ApifyClient } from 'apify-client';

const { Log, Logger, LEVELS } = createRequire(import.meta.url)('@apify/log');

const AsyncFunction = (async () => {}).constructor;
const SOURCE = [{ name: 'main.py', format: 'TEXT', content: "print('made')" }];
const NEW = { url: 'https://example.com/new', uniqueKey: 'new' };
const HOOK_URL = 'http://localhost:9/hook';

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

function collectingLog(lines) {
    return new Log({ level: LEVELS.DEBUG, logger: new Collect(lines) });
}

function isClient(value) {
    return value !== null && typeof value === 'object' && typeof value.then !== 'function'
        && /Client$/.test(value.constructor.name);
}

function list() {
    // Nothing listens here: a call that does send a request fails at once and is ignored.
    const root = new ApifyClient({ baseUrl: 'http://127.0.0.1:9', token: 'x', maxRetries: 0 });
    const methods = new Set();
    const factories = new Set();
    const walked = new Set();
    const walk = (obj) => {
        const cls = obj.constructor.name;
        if (walked.has(cls)) return;
        walked.add(cls);
        for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
            for (const name of Object.getOwnPropertyNames(p)) {
                const fn = Object.getOwnPropertyDescriptor(p, name).value;
                if (name === 'constructor' || name.startsWith('_') || typeof fn !== 'function') continue;
                let result;
                if (fn.constructor === Function) {
                    try {
                        // An id where it takes one: options are optional everywhere.
                        result = fn.length === 0 ? obj[name]() : obj[name]('x1');
                    } catch {
                        result = undefined;
                    }
                    if (result && typeof result.then === 'function') result.then(() => {}, () => {});
                }
                if (isClient(result)) {
                    factories.add(`${cls}.${name}`);
                    walk(result);
                } else {
                    methods.add(`${cls}.${name}`);
                }
            }
        }
    };
    walk(root);
    return { methods: [...methods].sort(), factories: [...factories].sort() };
}

async function readStdin() {
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return JSON.parse(Buffer.concat(chunks).toString('utf-8'));
}

function withTimeout(promise, ms) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describe(err) {
    const api = err && err.statusCode !== undefined ? ` [HTTP ${err.statusCode} type=${err.type}]` : '';
    return `${err && err.name}: ${err && err.message}${api}`;
}

async function run() {
    const { world, rows } = await readStdin();
    const baseUrl = process.env.GREENROOM_URL;
    const client = new ApifyClient({ baseUrl, publicBaseUrl: baseUrl, token: process.env.GREENROOM_TOKEN, maxRetries: 0 });
    const out = {};
    for (const { key, body } of rows) {
        const fn = new AsyncFunction('c', 'w', 'SOURCE', 'NEW', 'HOOK_URL', 'collectingLog', body);
        try {
            const value = await withTimeout(fn(client, world, SOURCE, NEW, HOOK_URL, collectingLog), 60_000);
            out[key] = { ok: true, value: value === undefined ? null : value };
        } catch (err) {
            out[key] = { ok: false, error: describe(err) };
        }
    }
    return out;
}

const mode = process.argv[2];
const result = mode === 'list' ? list() : await run();
console.log(JSON.stringify(result));
process.exit(0);
