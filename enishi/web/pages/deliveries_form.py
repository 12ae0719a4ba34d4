"""The compose form of the 配信 pages: form fields ↔ a delivery body, and the service's
problem paths (`arms[0].messages[1].template.actions[2].label`) → the form field that shows
them. Flat field names (`arm0_m1_text`) keep the form a plain HTML form; the browser script
(static/deliveries.js) only shows, hides and previews."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from enishi.delivery.models import Delivery
from enishi.messages.validation import MESSAGES_MAX, Problems
from enishi.web.i18n import N_
from enishi.web.pages.deliveries_problems import describe

ARMS_IN_FORM = 4  # the API allows 10; the dashboard offers A–D
EDITOR_TYPES = ("text", "image", "sticker", "template", "flex", "imagemap", "other")
JSON_EDITORS = ("sticker", "template", "flex", "imagemap", "other")
AUDIENCE_TYPES = ("all", "segment", "list", "friend")
TIMINGS = ("now", "at", "spread")
TRACK_LINKS = ("friend", "delivery", "off")
QUOTA_MODES = ("refuse", "partial")
URL = re.compile(r"^(https?://|line://|tel:)", re.I)
_SLOT_PATH = re.compile(r"^arms\[(\d+)\]\.messages\[(\d+)\](.*)$")
_ARM_PATH = re.compile(r"^arms\[(\d+)\](?:\.(name|share|messages))?")

FORM_ERRORS = {
    "json": N_("JSONとして読めません。"),
    "json_object": N_("メッセージオブジェクト（{...}）を入力してください。"),
    "json_type": N_("typeは「{type}」にしてください。"),
    "number": N_("数値を入力してください。"),
    "percent": N_("0以上100未満の数値を入力してください。"),
    "datetime": N_("日時を入力してください。"),
    "quick": N_(
        "クイックリプライは1行に「ラベル」または「ラベル|送信テキストかURL」で書いてください。"
    ),
    "no_messages": N_("メッセージを1つ以上入力してください。"),
    "name": N_("配信名を1〜200文字で入力してください。"),
    "segment": N_("セグメントを選んでください。"),
    "list": N_("IDを1行に1つずつ入力するか、ファイルを選んでください。"),
    "friend": N_("テスト送信先のLINEユーザーIDを入力してください。"),
}


@dataclass
class ComposeForm:
    """What the compose template shows: the values (as typed) and errors by field name."""

    values: dict[str, Any]
    # field name → [(Japanese text marked N_, its format values, the secondary detail)]
    errors: dict[str, list[tuple[str, dict[str, object], str]]] = field(default_factory=dict)
    # arm index → message index → form slot (empty slots are skipped in the body)
    slots: dict[int, list[int]] = field(default_factory=dict)

    def add(
        self, name: str, message: str, values: dict[str, object] | None = None, detail: str = ""
    ) -> None:
        self.errors.setdefault(name, []).append((message, values or {}, detail))


def blank_values() -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "",
        "arm_count": "1",
        "audience_type": "all",
        "segment_id": "",
        "list_id_type": "line_user_id",
        "list_ids": "",
        "friend_user_id": "",
        "friend_arm": "",
        "holdout_percent": "0",
        "track_links": "friend",
        "quota_mode": "refuse",
        "notification_disabled": False,
        "timing": "now",
        "send_at": "",
        "spread_until": "",
    }
    for i in range(ARMS_IN_FORM):
        values[f"arm{i}_name"] = chr(ord("A") + i)
        values[f"arm{i}_share"] = ""
        for j in range(MESSAGES_MAX):
            prefix = f"arm{i}_m{j}"
            values[f"{prefix}_type"] = "text" if j == 0 else ""
            for part in ("text", "original", "preview", "json", "quick"):
                values[f"{prefix}_{part}"] = ""
    return values


# --- delivery → form ---------------------------------------------------------------------------
def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if moment else ""


def _percent(share: float) -> str:
    return f"{share * 100:g}"


def _quick_lines(message: dict[str, Any]) -> str | None:
    """Quick-reply items as the form's lines, or None when they do not fit that form."""
    lines = []
    for item in (message.get("quickReply") or {}).get("items") or []:
        action = item.get("action") or {} if isinstance(item, dict) else {}
        label = action.get("label")
        if set(item) - {"type", "action"} or not isinstance(label, str) or "|" in label:
            return None
        if action.get("type") == "message" and set(action) <= {"type", "label", "text"}:
            text = action.get("text", label)
            lines.append(label if text == label else f"{label}|{text}")
        elif action.get("type") == "uri" and set(action) <= {"type", "label", "uri"}:
            lines.append(f"{label}|{action.get('uri', '')}")
        else:
            return None
    return "\n".join(lines)


def _editor_for(message: dict[str, Any]) -> str:
    kind = message.get("type")
    keys = set(message) - {"quickReply"}
    if kind == "text" and keys <= {"type", "text"}:
        return "text"
    if kind == "image" and keys <= {"type", "originalContentUrl", "previewImageUrl"}:
        return "image"
    return kind if kind in JSON_EDITORS else "other"


def values_from_delivery(delivery: Delivery, tz: ZoneInfo) -> dict[str, Any]:
    values = blank_values()
    audience = delivery.audience or {}
    values.update(
        name=delivery.name,
        arm_count=str(min(len(delivery.arms), ARMS_IN_FORM)),
        audience_type=audience.get("type", "all"),
        segment_id=str(audience.get("segment_id", "")),
        list_id_type=audience.get("id_type", "line_user_id"),
        friend_user_id=audience.get("line_user_id", ""),
        friend_arm=audience.get("arm", ""),
        holdout_percent=_percent(delivery.holdout_share),
        track_links=delivery.track_links,
        quota_mode=delivery.quota_mode,
        notification_disabled=delivery.notification_disabled,
        timing="spread" if delivery.spread_until else "at" if delivery.send_at else "now",
        send_at=_local(delivery.send_at, tz),
        spread_until=_local(delivery.spread_until, tz),
    )
    equal = all(abs(arm["share"] - 1 / len(delivery.arms)) < 1e-9 for arm in delivery.arms)
    for i, arm in enumerate(delivery.arms[:ARMS_IN_FORM]):
        values[f"arm{i}_name"] = arm["name"]
        values[f"arm{i}_share"] = "" if equal else _percent(arm["share"])
        messages = arm.get("messages") or []
        for j in range(MESSAGES_MAX):
            prefix = f"arm{i}_m{j}"
            message = messages[j] if j < len(messages) else None
            if not isinstance(message, dict):
                values[f"{prefix}_type"] = ""
                continue
            editor = _editor_for(message)
            quick = _quick_lines(message)
            if quick is None:  # quick replies the line form cannot hold: edit as JSON
                editor = editor if editor in JSON_EDITORS else "other"
            values[f"{prefix}_type"] = editor
            values[f"{prefix}_quick"] = quick or ""
            if editor == "text":
                values[f"{prefix}_text"] = message.get("text", "")
            elif editor == "image":
                values[f"{prefix}_original"] = message.get("originalContentUrl", "")
                values[f"{prefix}_preview"] = message.get("previewImageUrl", "")
            else:
                body = (
                    message
                    if quick is None
                    else {k: v for k, v in message.items() if k != "quickReply"}
                )
                values[f"{prefix}_json"] = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
    return values


# --- form → delivery body --------------------------------------------------------------------
def _quick_reply(lines: str, name: str, form: ComposeForm) -> dict[str, Any] | None:
    items = []
    for line in lines.splitlines():
        if not line.strip():
            continue
        label, bar, rest = (part.strip() for part in line.partition("|"))
        if not label or (bar and not rest):
            form.add(name, FORM_ERRORS["quick"])
            return None
        if rest and URL.match(rest):
            action = {"type": "uri", "label": label, "uri": rest}
        else:
            action = {"type": "message", "label": label, "text": rest or label}
        items.append({"type": "action", "action": action})
    return {"items": items} if items else None


def _message(values: dict[str, Any], prefix: str, form: ComposeForm) -> dict[str, Any] | None:
    editor = values[f"{prefix}_type"]
    if editor == "text":
        message: dict[str, Any] = {"type": "text", "text": values[f"{prefix}_text"]}
    elif editor == "image":
        original = values[f"{prefix}_original"].strip()
        message = {
            "type": "image",
            "originalContentUrl": original,
            "previewImageUrl": values[f"{prefix}_preview"].strip() or original,
        }
    else:
        name = f"{prefix}_json"
        try:
            message = orjson.loads(values[name] or "null")
        except orjson.JSONDecodeError as error:
            form.add(name, FORM_ERRORS["json"], detail=str(error))
            return None
        if not isinstance(message, dict):
            form.add(name, FORM_ERRORS["json_object"])
            return None
        if editor != "other" and message.get("type") != editor:
            form.add(name, FORM_ERRORS["json_type"], {"type": editor})
            return None
    quick = _quick_reply(values[f"{prefix}_quick"], f"{prefix}_quick", form)
    if quick is not None:
        message["quickReply"] = quick
    return message


def _share(raw: str, name: str, form: ComposeForm, *, upper: float = 100) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        form.add(name, FORM_ERRORS["number"])
        return None
    if not 0 <= value < upper:
        form.add(name, FORM_ERRORS["percent"])
        return None
    return value / 100


def _moment(raw: str, name: str, tz: ZoneInfo, form: ComposeForm) -> datetime | None:
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=tz)
    except ValueError:
        form.add(name, FORM_ERRORS["datetime"])
        return None


def read_form(
    raw: dict[str, Any], tz: ZoneInfo, list_file_ids: list[str]
) -> tuple[ComposeForm, dict[str, Any]]:
    """The form as typed (to show again) and the delivery body for the service (check
    `form.errors` first: the body is only meaningful without them)."""
    values = blank_values()
    for key, default in values.items():
        if isinstance(default, bool):
            values[key] = raw.get(key) in ("1", "on", "true")
        elif key in raw:
            values[key] = str(raw[key])
    form = ComposeForm(values)
    body: dict[str, Any] = {"name": values["name"].strip()}
    if not 1 <= len(body["name"]) <= 200:
        form.add("name", FORM_ERRORS["name"])

    arm_count = int(values["arm_count"]) if values["arm_count"] in ("1", "2", "3", "4") else 1
    values["arm_count"] = str(arm_count)
    arms = []
    shares = [values[f"arm{i}_share"].strip() for i in range(arm_count)]
    for i in range(arm_count):
        messages, form.slots[i] = [], []
        for j in range(MESSAGES_MAX):
            prefix = f"arm{i}_m{j}"
            if values[f"{prefix}_type"] not in EDITOR_TYPES:
                values[f"{prefix}_type"] = ""
                continue
            message = _message(values, prefix, form)
            if message is not None:
                messages.append(message)
                form.slots[i].append(j)
        if not messages and not any(k.startswith(f"arm{i}_m") for k in form.errors):
            form.add(f"arm{i}_messages", FORM_ERRORS["no_messages"])
        arm: dict[str, Any] = {"name": values[f"arm{i}_name"].strip() or None, "messages": messages}
        if any(shares):
            arm["share"] = _share(shares[i] or "0", f"arm{i}_share", form, upper=100.0001)
        arms.append(arm)
    body["arms"] = arms

    holdout = _share(values["holdout_percent"].strip() or "0", "holdout_percent", form)
    body["holdout_share"] = holdout or 0.0
    kind = values["audience_type"] if values["audience_type"] in AUDIENCE_TYPES else "all"
    if kind == "segment":
        if not values["segment_id"].isdigit():
            form.add("audience", FORM_ERRORS["segment"])
        body["audience"] = {"type": "segment", "segment_id": int(values["segment_id"] or 0)}
    elif kind == "list":
        id_type = "member_id" if values["list_id_type"] == "member_id" else "line_user_id"
        ids = [line.strip() for line in values["list_ids"].splitlines() if line.strip()]
        body["audience"] = {"type": "list", f"{id_type}s": ids + list_file_ids}
    elif kind == "friend":
        user = values["friend_user_id"].strip()
        if not user:
            form.add("audience", FORM_ERRORS["friend"])
        body["audience"] = {"type": "friend", "line_user_id": user}
        if values["friend_arm"].strip():
            body["audience"]["arm"] = values["friend_arm"].strip()
    else:
        body["audience"] = {"type": "all"}

    body["track_links"] = (
        values["track_links"] if values["track_links"] in TRACK_LINKS else "friend"
    )
    body["quota_mode"] = values["quota_mode"] if values["quota_mode"] in QUOTA_MODES else "refuse"
    body["notification_disabled"] = values["notification_disabled"]
    timing = values["timing"] if values["timing"] in TIMINGS else "now"
    body["send_at"] = body["spread_until"] = None
    if timing in ("at", "spread") and values["send_at"]:
        body["send_at"] = _moment(values["send_at"], "send_at", tz, form)
    elif timing == "at":
        form.add("send_at", FORM_ERRORS["datetime"])
    if timing == "spread":
        body["spread_until"] = _moment(values["spread_until"], "spread_until", tz, form)
    return form, body


# --- problem paths → form fields -------------------------------------------------------------
def field_for(path: str, form: ComposeForm) -> str:
    """The form field that shows the service's problem at `path`."""
    slot = _SLOT_PATH.match(path)
    if slot:
        arm, index, rest = int(slot[1]), int(slot[2]), slot[3]
        slots = form.slots.get(arm, [])
        if index >= len(slots):
            return f"arm{arm}_messages"
        prefix = f"arm{arm}_m{slots[index]}"
        editor = form.values.get(f"{prefix}_type")
        if rest.startswith(".quickReply") and form.values.get(f"{prefix}_quick"):
            return f"{prefix}_quick"
        if editor == "text":
            return f"{prefix}_text"
        if editor == "image":
            return (
                f"{prefix}_preview" if rest.startswith(".previewImageUrl") else f"{prefix}_original"
            )
        return f"{prefix}_json"
    arm = _ARM_PATH.match(path)
    if arm:
        return f"arm{arm[1]}_{arm[2] or 'messages'}"
    if path.startswith("audience") or path in ("line_user_ids", "member_ids", "id_type", "ids"):
        return "audience"
    if path == "holdout_share":
        return "holdout_percent"
    if path in ("name", "send_at", "spread_until", "quota_mode", "track_links", "arms"):
        return path
    return "form"


def add_problems(form: ComposeForm, problems: Problems) -> None:
    """The service's problems in Japanese beside their fields; the path is the detail where
    the field cannot say which part is meant (a JSON editor, or the whole form)."""
    for problem in problems:
        name = field_for(problem.path, form)
        text, values, detail = describe(problem, with_path=name.endswith("_json") or name == "form")
        form.add(name, text, values, detail)
