"""What each kind of outbound request is on LINE's wire: method, path, whether LINE takes a
retry key, whether LINE bills its recipients, and which statuses mean it took effect.

From LINE_PLATFORM.md §1-3 and §5 and LINE's OpenAPI document: only push, multicast and
narrowcast (and broadcast) accept `X-Line-Retry-Key`; any other endpoint answers 400 to
one. Narrowcast and the bulk rich-menu calls answer 202 and finish asynchronously. Push,
multicast and narrowcast count toward the monthly allowance; replies are free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with {placeholders} filled from the payload (then sent without a body)
    retry_key: bool
    billed: bool
    path_params: tuple[str, ...] = ()

    def path_for(self, payload: dict[str, Any]) -> str:
        return self.path.format(**{k: quote(str(payload[k]), safe="") for k in self.path_params})

    @property
    def has_body(self) -> bool:
        return not self.path_params


ENDPOINTS: dict[str, Endpoint] = {
    "push": Endpoint("POST", "/v2/bot/message/push", retry_key=True, billed=True),
    "multicast": Endpoint("POST", "/v2/bot/message/multicast", retry_key=True, billed=True),
    "narrowcast": Endpoint("POST", "/v2/bot/message/narrowcast", retry_key=True, billed=True),
    "reply": Endpoint("POST", "/v2/bot/message/reply", retry_key=False, billed=False),
    "richmenu_link": Endpoint(
        "POST",
        "/v2/bot/user/{userId}/richmenu/{richMenuId}",
        retry_key=False,
        billed=False,
        path_params=("userId", "richMenuId"),
    ),
    "richmenu_unlink": Endpoint(
        "DELETE",
        "/v2/bot/user/{userId}/richmenu",
        retry_key=False,
        billed=False,
        path_params=("userId",),
    ),
    "richmenu_bulk_link": Endpoint(
        "POST", "/v2/bot/richmenu/bulk/link", retry_key=False, billed=False
    ),
    "richmenu_bulk_unlink": Endpoint(
        "POST", "/v2/bot/richmenu/bulk/unlink", retry_key=False, billed=False
    ),
}
KINDS = tuple(ENDPOINTS)
BILLED_KINDS = tuple(kind for kind, endpoint in ENDPOINTS.items() if endpoint.billed)
RETRY_KEY_KINDS = tuple(kind for kind, endpoint in ENDPOINTS.items() if endpoint.retry_key)
