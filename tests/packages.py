"""Actors with dependencies for the build tests: a tiny local wheel (no network needed), a probe
script that reports what it can import and where it runs, and a node actor with a local package."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

WHEEL_NAME = "tinypkg-1.0-py3-none-any.whl"


def tiny_wheel(value: int = 42) -> bytes:
    """A valid pure-Python wheel of `tinypkg` (tinypkg.VALUE == value), with its RECORD."""
    files = {
        "tinypkg/__init__.py": f"VALUE = {value}\n".encode(),
        "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: greenroom-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr("tinypkg-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return buffer.getvalue()


# Writes OUTPUT: what it imports (tinypkg from the venv; not the worker's own packages), where its
# Python lives, and the env vars INPUT.env names.
PROBE_MAIN = """\
import importlib.util, json, os, sys, urllib.request

base, store = os.environ["APIFY_API_BASE_URL"], os.environ["ACTOR_DEFAULT_KEY_VALUE_STORE_ID"]
auth = {"Authorization": "Bearer " + os.environ["APIFY_TOKEN"]}
url = f"{base}/v2/key-value-stores/{store}/records/INPUT"
try:
    with urllib.request.urlopen(urllib.request.Request(url, headers=auth)) as r:
        data = json.load(r) or {}
except Exception:
    data = {}
try:
    import tinypkg
    value = tinypkg.VALUE
except ImportError:
    value = None
out = {
    "value": value,
    "prefix": sys.prefix,
    "virtualEnv": os.environ.get("VIRTUAL_ENV"),
    "pathHead": os.environ["PATH"].split(os.pathsep)[0],
    "workerPackages": importlib.util.find_spec("sqlalchemy") is not None,
    "env": {k: os.environ.get(k) for k in data.get("env", [])},
}
req = urllib.request.Request(
    f"{base}/v2/key-value-stores/{store}/records/OUTPUT", data=json.dumps(out).encode(), method="PUT",
    headers={**auth, "Content-Type": "application/json"},
)
urllib.request.urlopen(req).close()
"""


def text(name: str, content: str) -> dict[str, str]:
    return {"name": name, "format": "TEXT", "content": content}


def binary(name: str, content: bytes) -> dict[str, str]:
    return {"name": name, "format": "BASE64", "content": base64.b64encode(content).decode()}


def python_files(requirements: str = f"./vendor/{WHEEL_NAME}\n", value: int = 42) -> list[dict[str, str]]:
    return [
        text("main.py", PROBE_MAIN),
        text("requirements.txt", requirements),
        binary(f"vendor/{WHEEL_NAME}", tiny_wheel(value)),
    ]


def version(files: list[dict[str, str]], number: str = "0.0", **fields: object) -> dict[str, object]:
    return {"versionNumber": number, "sourceType": "SOURCE_FILES", "sourceFiles": files, **fields}


# A node actor: `npm install` links the local package `tiny` (no network), `npm start` runs main.js.
NODE_FILES = [
    text(
        "package.json",
        '{"name": "node-probe", "version": "1.0.0", "private": true,'
        ' "scripts": {"start": "node main.js"}, "dependencies": {"tiny": "file:./tiny"}}',
    ),
    text("tiny/package.json", '{"name": "tiny", "version": "1.0.0", "main": "index.js"}'),
    text("tiny/index.js", "module.exports = { value: 7 };\n"),
    text(
        "main.js",
        """\
const tiny = require("tiny");
const base = process.env.APIFY_API_BASE_URL, store = process.env.ACTOR_DEFAULT_KEY_VALUE_STORE_ID;
fetch(`${base}/v2/key-value-stores/${store}/records/OUTPUT`, {
  method: "PUT",
  headers: { Authorization: `Bearer ${process.env.APIFY_TOKEN}`, "Content-Type": "application/json" },
  body: JSON.stringify({ tiny: tiny.value, node: process.version }),
}).then((r) => process.exit(r.ok ? 0 : 1));
""",
    ),
]
