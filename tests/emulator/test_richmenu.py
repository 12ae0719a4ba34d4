"""Rich menus through the official SDK: objects, images, default, per-user links, aliases,
batch. Every answer is checked against LINE's OpenAPI files (`checked_emulator`)."""

from __future__ import annotations

import json
import re
import struct
import uuid
import zlib

import httpx
import pytest
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    CreateRichMenuAliasRequest,
    MessagingApi,
    MessagingApiBlob,
    PostbackAction,
    RichMenuArea,
    RichMenuBatchLinkOperation,
    RichMenuBatchRequest,
    RichMenuBatchUnlinkAllOperation,
    RichMenuBounds,
    RichMenuBulkLinkRequest,
    RichMenuBulkUnlinkRequest,
    RichMenuRequest,
    RichMenuSize,
    UpdateRichMenuAliasRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from enishi.emulator.api import richmenu
from tests.emulator.clients import raw

WIDTH, HEIGHT = 2500, 843


def client(running) -> ApiClient:
    return ApiClient(Configuration(host=running.base_url, access_token=running.token))


def api(running) -> MessagingApi:
    return MessagingApi(client(running))


def blob(running) -> MessagingApiBlob:
    return MessagingApiBlob(client(running))


def png(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x00\x80\xff" * 4)  # not a full image: headers matter
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg(width: int = WIDTH, height: int = HEIGHT) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00"
        b"\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def menu_request(name: str = "main", width: int = WIDTH, height: int = HEIGHT) -> RichMenuRequest:
    return RichMenuRequest(
        size=RichMenuSize(width=width, height=height),
        selected=False,
        name=name,
        chatBarText="メニュー",
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=0, y=0, width=width // 2, height=height),
                action=PostbackAction(data="action=shop", displayText="ショップ"),
            ),
            RichMenuArea(
                bounds=RichMenuBounds(x=width // 2, y=0, width=width // 2, height=height),
                action=PostbackAction(data="action=coupon"),
            ),
        ],
    )


def new_menu(running, *, image: bool = True, name: str = "main") -> str:
    rich_menu_id = api(running).create_rich_menu(menu_request(name)).rich_menu_id
    if image:
        blob(running).set_rich_menu_image(
            rich_menu_id, png(), _headers={"Content-Type": "image/png"}
        )
    return rich_menu_id


def following(running, n: int) -> list[str]:
    return [f.user_id for f in running.channel.friends.values() if f.is_friend][:n]


def error_of(call) -> tuple[int, dict]:
    with pytest.raises(ApiException) as caught:
        call()
    return caught.value.status, json.loads(caught.value.body)


def test_create_get_list_validate_delete(checked_emulator):
    line = api(checked_emulator)
    response = line.create_rich_menu_with_http_info(menu_request())
    assert response.status_code == 200 and response.headers["x-line-request-id"]
    rich_menu_id = response.data.rich_menu_id
    assert re.fullmatch(r"richmenu-[0-9a-f]{32}", rich_menu_id)
    menu = line.get_rich_menu(rich_menu_id)
    assert (menu.rich_menu_id, menu.name, menu.chat_bar_text) == (rich_menu_id, "main", "メニュー")
    assert menu.size.width == WIDTH and len(menu.areas) == 2
    assert [m.rich_menu_id for m in line.get_rich_menu_list().richmenus] == [rich_menu_id]
    line.validate_rich_menu_object(menu_request())
    line.delete_rich_menu(rich_menu_id)
    assert error_of(lambda: line.get_rich_menu(rich_menu_id)) == (404, {"message": "Not found"})
    assert error_of(lambda: line.delete_rich_menu(rich_menu_id))[0] == 404
    assert line.get_rich_menu_list().richmenus == []


def test_invalid_rich_menu_objects_get_line_details(checked_emulator):
    http = raw(checked_emulator)
    body = menu_request().to_dict()
    body["size"] = {"width": 700, "height": 843}
    body["chatBarText"] = "x" * 15
    for path in ("/v2/bot/richmenu", "/v2/bot/richmenu/validate"):
        answer = http.post(path, json=body)
        assert answer.status_code == 400
        details = {d["property"]: d["message"] for d in answer.json()["details"]}
        assert details["size.width"] == "Must be between 800 and 2500"
        assert details["chatBarText"] == "Length must be between 0 and 14"
    assert checked_emulator.channel.rich_menus == {}


def test_rich_menu_limit_is_1000(checked_emulator):
    channel = checked_emulator.channel

    async def fill():
        for i in range(richmenu.RICH_MENUS_MAX):
            channel.rich_menus[f"richmenu-{i:032x}"] = {}

    checked_emulator.call(fill())
    status, body = error_of(lambda: api(checked_emulator).create_rich_menu(menu_request()))
    assert status == 400 and "1000" in body["message"]


@pytest.mark.parametrize("make, content_type", [(png, "image/png"), (jpeg, "image/jpeg")])
def test_image_upload_once_and_download(checked_emulator, make, content_type):
    rich_menu_id = new_menu(checked_emulator, image=False)
    data = make()
    images = blob(checked_emulator)
    images.set_rich_menu_image(rich_menu_id, data, _headers={"Content-Type": content_type})
    downloaded = images.get_rich_menu_image_with_http_info(rich_menu_id)
    assert bytes(downloaded.data) == data
    assert downloaded.headers["content-type"].startswith(content_type)
    status, body = error_of(
        lambda: images.set_rich_menu_image(
            rich_menu_id, data, _headers={"Content-Type": content_type}
        )
    )
    assert (status, body["message"]) == (400, "An image has already been uploaded to the richmenu")


def test_image_errors(checked_emulator):
    rich_menu_id = new_menu(checked_emulator, image=False)
    http = raw(checked_emulator)
    url = f"/v2/bot/richmenu/{rich_menu_id}/content"

    def upload(data: bytes, content_type: str) -> httpx.Response:
        return http.post(url, content=data, headers={"content-type": content_type})

    assert upload(png(), "image/gif").status_code == 415
    assert upload(png(), "text/plain").json() == {"message": "Unsupported media type"}
    too_big = png() + b"\x00" * (1024 * 1024)
    assert upload(too_big, "image/png").status_code == 413
    wrong_size = upload(png(2500, 1686), "image/png")
    assert (wrong_size.status_code, wrong_size.json()) == (
        400,
        {"message": "The image size is not allowed for richmenu"},
    )
    assert upload(jpeg(), "image/png").status_code == 400  # JPEG bytes declared as PNG
    assert upload(b"GIF89a" + b"\x00" * 20, "image/jpeg").status_code == 400
    assert http.get(url).status_code == 404  # nothing stored by the failures
    assert upload(png(), "image/png").status_code == 200
    unknown = "richmenu-" + "0" * 32
    assert (
        http.post(
            f"/v2/bot/richmenu/{unknown}/content",
            content=png(),
            headers={"content-type": "image/png"},
        ).status_code
        == 404
    )
    assert http.get(f"/v2/bot/richmenu/{unknown}/content").json() == {"message": "Not found"}


def test_default_rich_menu_needs_image(checked_emulator):
    line = api(checked_emulator)
    assert error_of(line.get_default_rich_menu_id) == (404, {"message": "no default richmenu"})
    bare = new_menu(checked_emulator, image=False)
    status, body = error_of(lambda: line.set_default_rich_menu(bare))
    assert (status, body["message"]) == (
        400,
        "must upload richmenu image before applying it to user",
    )
    assert error_of(lambda: line.set_default_rich_menu("richmenu-" + "1" * 32))[0] == 404
    ready = new_menu(checked_emulator)
    line.set_default_rich_menu(ready)
    assert line.get_default_rich_menu_id().rich_menu_id == ready
    line.cancel_default_rich_menu()
    assert error_of(line.get_default_rich_menu_id)[0] == 404


def test_link_unlink_and_get_per_user(checked_emulator):
    line = api(checked_emulator)
    user = following(checked_emulator, 1)[0]
    assert error_of(lambda: line.get_rich_menu_id_of_user(user)) == (
        404,
        {"message": "the user has no richmenu"},
    )
    bare = new_menu(checked_emulator, image=False)
    assert error_of(lambda: line.link_rich_menu_id_to_user(user, bare))[0] == 400
    assert error_of(lambda: line.link_rich_menu_id_to_user(user, "richmenu-" + "2" * 32))[0] == 404
    menu = new_menu(checked_emulator)
    line.link_rich_menu_id_to_user(user, menu)
    assert line.get_rich_menu_id_of_user(user).rich_menu_id == menu
    assert checked_emulator.channel.friends[user].rich_menu_id == menu
    status, body = error_of(lambda: line.link_rich_menu_id_to_user("not-a-user", menu))
    assert (status, body["message"]) == (400, "The value for the 'userId' parameter is invalid")
    stranger = "U" + "a" * 32  # well-formed but no user of this provider: 200, nothing linked
    line.link_rich_menu_id_to_user(stranger, menu)
    assert error_of(lambda: line.get_rich_menu_id_of_user(stranger))[0] == 404
    line.unlink_rich_menu_id_from_user(user)
    assert error_of(lambda: line.get_rich_menu_id_of_user(user))[0] == 404


def test_bulk_link_and_unlink(checked_emulator):
    line = api(checked_emulator)
    menu = new_menu(checked_emulator)
    users = following(checked_emulator, 120)
    response = line.link_rich_menu_id_to_users_with_http_info(
        RichMenuBulkLinkRequest(richMenuId=menu, userIds=users)
    )
    assert response.status_code == 202
    friends = checked_emulator.channel.friends
    assert all(friends[u].rich_menu_id == menu for u in users)
    response = line.unlink_rich_menu_id_from_users_with_http_info(
        RichMenuBulkUnlinkRequest(userIds=users[:20])
    )
    assert response.status_code == 202
    assert sum(friends[u].rich_menu_id == menu for u in users) == 100
    http = raw(checked_emulator)
    too_many = http.post(
        "/v2/bot/richmenu/bulk/link", json={"richMenuId": menu, "userIds": ["U" + "b" * 32] * 501}
    )
    assert too_many.status_code == 400
    assert too_many.json()["details"] == [
        {"message": "Size must be between 1 and 500", "property": "userIds"}
    ]
    bad_id = http.post("/v2/bot/richmenu/bulk/unlink", json={"userIds": [users[0], "x"]})
    assert (bad_id.status_code, bad_id.json()) == (
        400,
        {
            "message": "The property, 'userIds[1]', in the request body is invalid (line: -, column: -)"
        },
    )
    malformed = http.post("/v2/bot/richmenu/bulk/link", json={"richMenuId": "x", "userIds": users})
    assert malformed.json() == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "invalid richMenuId", "property": "richMenuId"}],
    }
    unknown = http.post(
        "/v2/bot/richmenu/bulk/link", json={"richMenuId": "richmenu-" + "5" * 32, "userIds": users}
    )
    assert (unknown.status_code, unknown.json()) == (404, {"message": "richmenu not found"})


def test_deleting_a_menu_clears_default_and_links(checked_emulator):
    line = api(checked_emulator)
    menu = new_menu(checked_emulator)
    other = new_menu(checked_emulator, name="other")
    users = following(checked_emulator, 3)
    line.set_default_rich_menu(menu)
    line.link_rich_menu_id_to_users(RichMenuBulkLinkRequest(richMenuId=menu, userIds=users[:2]))
    line.link_rich_menu_id_to_user(users[2], other)
    line.create_rich_menu_alias(
        CreateRichMenuAliasRequest(richMenuAliasId="tab-a", richMenuId=menu)
    )
    line.delete_rich_menu(menu)
    assert error_of(line.get_default_rich_menu_id)[0] == 404
    assert error_of(lambda: line.get_rich_menu_id_of_user(users[0]))[0] == 404
    assert line.get_rich_menu_id_of_user(users[2]).rich_menu_id == other
    assert checked_emulator.channel.rich_menu_images.keys() == {other}
    # the alias dangles, as on LINE (a richmenuswitch to it answers RICHMENU_NOTFOUND)
    assert line.get_rich_menu_alias("tab-a").rich_menu_id == menu


def test_aliases(checked_emulator):
    line = api(checked_emulator)
    first, second = new_menu(checked_emulator), new_menu(checked_emulator, name="b")
    line.create_rich_menu_alias(
        CreateRichMenuAliasRequest(richMenuAliasId="tab_a-1", richMenuId=first)
    )
    alias = line.get_rich_menu_alias("tab_a-1")
    assert (alias.rich_menu_alias_id, alias.rich_menu_id) == ("tab_a-1", first)
    status, body = error_of(
        lambda: line.create_rich_menu_alias(
            CreateRichMenuAliasRequest(richMenuAliasId="tab_a-1", richMenuId=second)
        )
    )
    assert (status, body) == (400, {"message": "conflict richmenu alias id"})
    line.update_rich_menu_alias("tab_a-1", UpdateRichMenuAliasRequest(richMenuId=second))
    assert line.get_rich_menu_alias("tab_a-1").rich_menu_id == second
    line.create_rich_menu_alias(
        CreateRichMenuAliasRequest(richMenuAliasId="tab-b", richMenuId=first)
    )
    listed = {a.rich_menu_alias_id: a.rich_menu_id for a in line.get_rich_menu_alias_list().aliases}
    assert listed == {"tab_a-1": second, "tab-b": first}
    line.delete_rich_menu_alias("tab-b")
    assert error_of(lambda: line.get_rich_menu_alias("tab-b")) == (
        404,
        {"message": "richmenu alias not found"},
    )
    assert error_of(lambda: line.delete_rich_menu_alias("tab-b"))[0] == 404
    assert error_of(lambda: line.get_rich_menu_alias("Tab B")) == (  # no alias ID at all
        400,
        {"message": "The value for the 'richMenuAliasId' parameter is invalid"},
    )
    assert (
        error_of(
            lambda: line.update_rich_menu_alias(
                "nope", UpdateRichMenuAliasRequest(richMenuId=first)
            )
        )[0]
        == 404
    )


def test_alias_errors(checked_emulator):
    http = raw(checked_emulator)
    menu = new_menu(checked_emulator)
    bad = http.post("/v2/bot/richmenu/alias", json={"richMenuAliasId": "Tab A", "richMenuId": menu})
    assert bad.status_code == 400 and bad.json()["details"][0]["property"] == "richMenuAliasId"
    long = http.post(
        "/v2/bot/richmenu/alias", json={"richMenuAliasId": "a" * 33, "richMenuId": menu}
    )
    assert long.status_code == 400
    unknown = http.post(
        "/v2/bot/richmenu/alias",
        json={"richMenuAliasId": "x", "richMenuId": "richmenu-" + "3" * 32},
    )
    assert unknown.status_code == 400 and unknown.json() == {"message": "richmenu not found"}
    bare = new_menu(checked_emulator, image=False)
    no_image = http.post(
        "/v2/bot/richmenu/alias", json={"richMenuAliasId": "x", "richMenuId": bare}
    )
    assert (no_image.status_code, no_image.json()) == (400, {"message": "richmenu not found"})
    malformed = http.post(
        "/v2/bot/richmenu/alias", json={"richMenuAliasId": "x", "richMenuId": "x"}
    )
    assert malformed.json()["details"] == [
        {"message": "invalid richMenuId", "property": "richMenuId"}
    ]
    assert checked_emulator.channel.rich_menu_aliases == {}


def test_batch_replace_and_unlink_all(checked_emulator):
    line = api(checked_emulator)
    old, new = new_menu(checked_emulator), new_menu(checked_emulator, name="new")
    users = following(checked_emulator, 10)
    line.link_rich_menu_id_to_users(RichMenuBulkLinkRequest(richMenuId=old, userIds=users))
    batch = RichMenuBatchRequest(operations=[RichMenuBatchLinkOperation(var_from=old, to=new)])
    line.validate_rich_menu_batch_request(batch)
    response = line.rich_menu_batch_with_http_info(batch)
    assert response.status_code == 202
    request_id = response.headers["x-line-request-id"]
    progress = line.get_rich_menu_batch_progress(request_id)
    assert progress.phase == "succeeded" and progress.accepted_time and progress.completed_time
    friends = checked_emulator.channel.friends
    assert {friends[u].rich_menu_id for u in users} == {new}
    line.rich_menu_batch(RichMenuBatchRequest(operations=[RichMenuBatchUnlinkAllOperation()]))
    assert {friends[u].rich_menu_id for u in users} == {None}
    assert error_of(lambda: line.get_rich_menu_batch_progress(str(uuid.uuid4())))[0] == 404
    assert error_of(lambda: line.get_rich_menu_batch_progress("no-such-request"))[0] == 400


def test_batch_errors_are_lines(checked_emulator):
    http = raw(checked_emulator)
    menu, bare = new_menu(checked_emulator), new_menu(checked_emulator, image=False, name="bare")

    def validate(*operations: dict) -> httpx.Response:
        return http.post("/v2/bot/richmenu/validate/batch", json={"operations": list(operations)})

    unknown = validate({"type": "unlink", "from": "richmenu-" + "4" * 32})
    assert (unknown.status_code, unknown.json()) == (404, {"message": "richmenu not found"})
    assert validate({"type": "unlink", "from": "x"}).json()["details"] == [
        {"message": "invalid richMenuId", "property": "operations[0].from"}
    ]
    twice = validate({"type": "unlink", "from": menu}, {"type": "link", "from": menu, "to": menu})
    assert twice.json()["details"] == [
        {"message": f"from richmenu ({menu}) is duplicated", "property": "operations[].from"}
    ]
    mixed = validate({"type": "unlinkAll"}, {"type": "unlink", "from": menu})
    assert mixed.json()["details"] == [
        {
            "message": "'unlinkAll' type can't be combined with other type",
            "property": "operations[].type",
        }
    ]
    no_image = validate({"type": "link", "from": menu, "to": bare})
    assert no_image.status_code == 400


def test_rate_limit_classes(start_emulator):
    running = start_emulator(rate_limit_scale=0.01)  # hourly100 -> 1, default -> 20
    line = api(running)
    line.create_rich_menu(menu_request())
    assert error_of(lambda: line.create_rich_menu(menu_request()))[0] == 429
    for _ in range(5):
        line.get_rich_menu_list()
