"""List endpoints page by page: offset, page number, cursor token, or Link header.

Every strategy stops on a short page, a missing next cursor or link, and refuses a
server that sends the same cursor or link twice (it would loop forever).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from erpbridge.connectors.rest.client import RestClient, dig
from erpbridge.connectors.rest.errors import SYSTEM
from erpbridge.connectors.rest.settings import RestObject
from erpbridge.spi.errors import ConnectorError

__all__ = ["ListPage", "list_pages"]


@dataclass(frozen=True, slots=True)
class ListPage:
    """One answer of a list endpoint: its items, its number, and whether it was the last."""

    items: list[object]
    number: int
    is_last: bool


async def list_pages(
    client: RestClient,
    object: str,
    spec: RestObject,
    params: Mapping[str, str | int],
    page_size: int,
) -> AsyncIterator[ListPage]:
    """The pages of ``spec.path`` with ``params``, as the connection's paging says.

    Raises:
        ConnectorError: an answer without the record list at ``record_path``, or a
            server that repeats a cursor or link.
    """
    paging = client.settings.paging
    number = 0
    offset, page = 0, paging.first_page
    token: str | None = None
    next_url: str | None = None
    seen: set[str] = set()
    while True:
        number += 1
        query: dict[str, str | int] = dict(params)
        path = spec.path
        if paging.type == "offset":
            query.update({paging.offset_param: offset, paging.limit_param: page_size})
        elif paging.type == "page":
            query.update({paging.page_param: page, paging.size_param: page_size})
        elif paging.type == "cursor":
            query[paging.limit_param] = page_size
            if token is not None:
                query[paging.cursor_param] = token
        elif paging.type == "link":
            if next_url is not None:
                path, query = next_url, {}
            else:
                query[paging.limit_param] = page_size
        # No params at all for a Link URL: httpx would replace its query with an empty one.
        body, response = await client.get_json(path, object=object, params=query or None)
        items = dig(body, spec.record_path)
        if not isinstance(items, list):
            raise ConnectorError(
                f"GET {spec.path}: no record list at {spec.record_path or 'the body'!r}",
                system=SYSTEM,
                object=object,
            )
        if paging.type in ("offset", "page"):
            is_last = len(items) < page_size
            offset, page = offset + len(items), page + 1
        elif paging.type == "cursor":
            found = dig(body, paging.cursor_path)
            token = str(found) if found not in (None, "") else None
            is_last = token is None or not items
            _refuse_repeat(token, seen, object)
        elif paging.type == "link":
            next_url = response.links.get("next", {}).get("url")
            is_last = next_url is None or not items
            _refuse_repeat(next_url, seen, object)
        else:
            is_last = True
        yield ListPage(items, number, is_last)
        if is_last:
            return


def _refuse_repeat(marker: str | None, seen: set[str], object: str) -> None:
    if marker is None:
        return
    if marker in seen:
        raise ConnectorError(
            f"the server sent the same next cursor or link twice ({marker[:80]}); "
            "stopping instead of looping",
            system=SYSTEM,
            object=object,
        )
    seen.add(marker)
