"""/api/v1/routes: create, list, patch, delete; codes; counts per route; QR code PNGs."""

from __future__ import annotations

import re
import struct
import zlib

import segno
from sqlalchemy import func, select

from enishi.accounts.service import create_account, create_api_key
from enishi.audit.actor import Actor
from enishi.friends.models import BLOCKED, FOLLOWING, Friend
from enishi.inflow.models import RouteVisit

URL = "/api/v1/routes"


def create(client, api_account, **body):
    response = client.post(URL, headers=api_account.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_with_and_without_code(client, api_account):
    route = create(client, api_account, name="店頭POP 渋谷", code="shibuya_pop-1")
    assert route["code"] == "shibuya_pop-1"
    assert route["url"] == "https://crm.example.jp/r/shibuya_pop-1"
    assert route["qr_url"] == route["url"] + "/qr.png"
    assert route["liff_url"] is None
    assert route["counts"] == {
        "added": 0,
        "following": 0,
        "blocked": 0,
        "visits": 0,
        "visitors": 0,
        "anonymous_visits": 0,
    }
    generated = create(client, api_account, name="Instagram")
    assert re.fullmatch(r"[A-Za-z0-9_-]{8}", generated["code"])
    assert generated["code"] != create(client, api_account, name="Instagram 2")["code"]

    # with a LIFF app, the route also has its LIFF URL
    client.patch(
        "/api/v1/account", headers=api_account.headers, json={"liff_id": "1650000001-AbCdEfGh"}
    )
    fetched = client.get(f"{URL}/{route['id']}", headers=api_account.headers).json()
    assert fetched["liff_url"] == "https://liff.line.me/1650000001-AbCdEfGh/shibuya_pop-1"


def test_bad_and_duplicate_codes(client, api_account, state):
    create(client, api_account, name="A", code="summer")
    for body, status, field in (
        ({"name": "B", "code": "summer"}, 409, "code"),
        ({"name": "B", "code": "has space"}, 422, "code"),
        ({"name": "B", "code": "x" * 65}, 422, "code"),
        ({"name": "B", "code": ""}, 422, "code"),
        ({"name": "B", "code": "日本語"}, 422, "code"),
        ({"name": ""}, 422, "name"),
        ({"name": "   "}, 422, "name"),
        ({"code": "ok"}, 422, "name"),
        ({"name": "B", "extra": 1}, 422, "extra"),
    ):
        response = client.post(URL, headers=api_account.headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field
    # /r/{code} names no account: another account cannot take the code either
    with state.sessions.begin() as session:
        other = create_account(
            session,
            state.box,
            name="別店",
            channel_id="2000000002",
            channel_secret="s" * 32,
            access_token="t",
        )
        _, key = create_api_key(session, other, "k", actor=Actor.cli())
    response = client.post(
        URL, headers={"authorization": f"Bearer {key}"}, json={"name": "B", "code": "summer"}
    )
    assert response.status_code == 409
    assert client.post(URL, json={"name": "x"}).status_code == 401


def test_list_patch_delete(client, api_account, state):
    ids = [create(client, api_account, name=f"route {i}")["id"] for i in range(5)]
    first = client.get(URL, headers=api_account.headers, params={"limit": 2}).json()
    assert [r["id"] for r in first["items"]] == ids[:2] and first["next_cursor"]
    rest = client.get(
        URL, headers=api_account.headers, params={"limit": 10, "cursor": first["next_cursor"]}
    ).json()
    assert [r["id"] for r in rest["items"]] == ids[2:] and rest["next_cursor"] is None
    assert client.get(URL, headers=api_account.headers, params={"limit": 0}).status_code == 400
    assert client.get(URL, headers=api_account.headers, params={"cursor": "%%%"}).status_code == 400

    target = ids[0]
    patched = client.patch(
        f"{URL}/{target}", headers=api_account.headers, json={"name": "チラシ", "code": "flyer"}
    ).json()
    assert patched["name"] == "チラシ" and patched["url"].endswith("/r/flyer")
    create(client, api_account, name="taken", code="taken")
    assert (
        client.patch(
            f"{URL}/{target}", headers=api_account.headers, json={"code": "taken"}
        ).status_code
        == 409
    )
    assert (
        client.patch(
            f"{URL}/{target}", headers=api_account.headers, json={"code": "flyer"}
        ).status_code
        == 200
    )  # its own code

    with state.sessions.begin() as session:
        friend = Friend(
            account_id=api_account.id,
            line_user_id="U" + "a" * 32,
            status=FOLLOWING,
            inflow_route_id=target,
        )
        session.add(friend)
        session.add(
            RouteVisit(account_id=api_account.id, route_id=target, line_user_id=friend.line_user_id)
        )
    assert client.delete(f"{URL}/{target}", headers=api_account.headers).status_code == 204
    assert client.get(f"{URL}/{target}", headers=api_account.headers).status_code == 404
    assert client.delete(f"{URL}/{target}", headers=api_account.headers).status_code == 404
    with state.sessions() as session:
        assert session.scalar(select(Friend.inflow_route_id)) is None  # the friend stays
        assert session.scalar(select(func.count()).select_from(RouteVisit)) == 0
    assert client.get(f"{URL}/999999", headers=api_account.headers).status_code == 404


def test_counts_per_route(client, api_account, state):
    shop = create(client, api_account, name="store", code="store")
    insta = create(client, api_account, name="insta", code="insta")
    statuses = {shop["id"]: [FOLLOWING, FOLLOWING, BLOCKED, "unknown"], insta["id"]: [BLOCKED]}
    with state.sessions.begin() as session:
        n = 0
        for route_id, kinds in statuses.items():
            for status in kinds:
                n += 1
                session.add(
                    Friend(
                        account_id=api_account.id,
                        line_user_id=f"U{n:032x}",
                        status=status,
                        inflow_route_id=route_id,
                    )
                )
        session.add(
            Friend(account_id=api_account.id, line_user_id="U" + "f" * 32, status=FOLLOWING)
        )  # came from nowhere we know
        for user in ("U" + "1" * 32, "U" + "1" * 32, "U" + "2" * 32):
            session.add(
                RouteVisit(account_id=api_account.id, route_id=shop["id"], line_user_id=user)
            )
    listed = {
        r["code"]: r["counts"] for r in client.get(URL, headers=api_account.headers).json()["items"]
    }
    assert listed["store"] == {
        "added": 4,
        "following": 2,
        "blocked": 1,
        "visits": 3,
        "visitors": 2,
        "anonymous_visits": 0,
    }
    assert listed["insta"]["added"] == 1 and listed["insta"]["blocked"] == 1
    one = client.get(f"{URL}/{shop['id']}", headers=api_account.headers).json()
    assert one["counts"] == listed["store"]


def decode_png(data: bytes) -> tuple[int, int, list[list[int]]]:
    """A 1-bit greyscale PNG as rows of 0 (black) / 1 (white) pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert (depth, color, interlace) == (1, 0, 0)
    raw, stride = zlib.decompress(idat), (width + 7) // 8
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left, up = (line[i - 1] if i else 0), previous[i]
            upleft = previous[i - 1] if i else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else upleft
                line[i] = (line[i] + pred) & 255
        rows.append([(line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
        previous = line
    return width, height, rows


def qr_modules(png: bytes, scale: int, border: int = 4) -> list[list[int]]:
    width, height, rows = decode_png(png)
    size = width // scale - 2 * border
    assert width == height == (size + 2 * border) * scale
    centre = scale // 2
    return [
        [
            1 - rows[(border + y) * scale + centre][(border + x) * scale + centre]
            for x in range(size)
        ]
        for y in range(size)
    ]


def test_qr_png_encodes_the_route_url(client, api_account):
    route = create(client, api_account, name="flyer", code="flyer-2025")
    private = client.get(f"{URL}/{route['id']}/qr.png", headers=api_account.headers)
    public = client.get("/r/flyer-2025/qr.png")
    assert private.status_code == public.status_code == 200
    assert private.headers["content-type"] == public.headers["content-type"] == "image/png"
    assert private.content == public.content
    # the modules in the picture are the QR code of the route URL, module for module
    expected = segno.make("https://crm.example.jp/r/flyer-2025", error="m", micro=False)
    assert qr_modules(public.content, 8) == [[int(bool(v)) for v in row] for row in expected.matrix]
    other = segno.make("https://crm.example.jp/r/flyer-2026", error="m", micro=False)
    assert qr_modules(public.content, 8) != [[int(bool(v)) for v in row] for row in other.matrix]

    big = client.get("/r/flyer-2025/qr.png", params={"scale": 20})
    assert decode_png(big.content)[0] == (expected.symbol_size(scale=20)[0])
    assert client.get("/r/flyer-2025/qr.png", params={"scale": 0}).status_code == 400
    assert client.get("/r/flyer-2025/qr.png", params={"scale": 41}).status_code == 400
    assert client.get("/r/nope/qr.png").status_code == 404
    assert client.get(f"{URL}/{route['id']}/qr.png").status_code == 401
