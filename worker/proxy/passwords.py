"""A run's proxy password: the run's id and a MAC keyed by the hash of the run's API token.

Nothing is stored for it: the proxy reads the run's token hash (api_tokens, written when the worker
claims the run) and recomputes the MAC. So the password names its run and user, stops working when
the run's token is dropped (the run ended), and is not the API token itself, which a proxy URL in a
log would otherwise show. A user's own password (users.proxy_password) is 24 characters; a run's is
longer, so the two never collide.
"""

from __future__ import annotations

import hashlib
import hmac

from server.storage.ids import hash_token

RUN_ID_CHARS = 17
_MAC_CHARS = 32
RUN_PASSWORD_CHARS = RUN_ID_CHARS + _MAC_CHARS


def mac(token_hash: str) -> str:
    return hmac.new(token_hash.encode(), b"greenroom apify proxy", hashlib.sha256).hexdigest()[:_MAC_CHARS]


def run_password(run_id: str, token: str) -> str:
    """APIFY_PROXY_PASSWORD for the run holding `token` (letters and digits: safe in a URL)."""
    return run_id + mac(hash_token(token))


def split_run_password(password: str) -> tuple[str, str] | None:
    """(run id, MAC) if `password` has a run password's shape."""
    if len(password) != RUN_PASSWORD_CHARS or not password.isalnum():
        return None
    return password[:RUN_ID_CHARS], password[RUN_ID_CHARS:]
