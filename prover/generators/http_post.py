"""One blocking JSON POST with a finite timeout (standard library only; run it in a thread)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpReply:
    """Status, headers (lower-case names) and body of one HTTP response."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def post_json(
    url: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout: float
) -> HttpReply:
    """POST `payload` as JSON. Any HTTP status is a reply; a connection failure raises
    `ConnectionError`, and no progress for `timeout` seconds raises `TimeoutError`."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpReply(response.status, response.read(), _lower(response.headers.items()))
    except urllib.error.HTTPError as err:  # a status >= 400 is an answer, not a failure
        try:
            body = err.read()
        except OSError:
            body = b""
        return HttpReply(err.code, body, _lower(err.headers.items() if err.headers else ()))
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise TimeoutError(str(err.reason)) from err
        raise ConnectionError(str(err.reason)) from err
    except TimeoutError:
        raise
    except (OSError, http.client.HTTPException) as err:  # reset or closed mid-reply
        raise ConnectionError(str(err) or type(err).__name__) from err


def _lower(items: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in items}
