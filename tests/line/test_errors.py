"""LINE's error bodies, read in one place for every endpoint and client."""

from __future__ import annotations

from enishi.line.errors import LineError, LineErrorDetail, parse_error_body


def test_messaging_api_body_with_details():
    body = (
        b'{"message": "The request body has 1 error(s)", "details": '
        b'[{"message": "Length must be between 0 and 5000", "property": "messages[0].text"}, '
        b'"not an object", {"property": "to"}]}'
    )
    parsed = parse_error_body(body)
    assert parsed.message == "The request body has 1 error(s)"
    assert parsed.details == (
        LineErrorDetail("Length must be between 0 and 5000", "messages[0].text"),
        LineErrorDetail("", "to"),
    )


def test_line_login_body():
    parsed = parse_error_body(
        '{"error": "invalid_request", "error_description": "IdToken expired."}'
    )
    assert parsed.message == "IdToken expired." and parsed.details == ()


def test_bodies_without_lines_words():
    for body in (None, b"", b"<html>502 Bad Gateway</html>", b"[1, 2]", b'{"details": "x"}'):
        parsed = parse_error_body(body)
        assert parsed.message is None and parsed.details == (), body


def test_error_falls_back_to_the_http_reason_then_the_status():
    said = LineError.from_answer(429, b'{"message": "Too many requests"}', reason="Too Many")
    assert (said.status, said.message, said.reached) == (429, "Too many requests", True)
    assert LineError.from_answer(502, b"<html/>", reason="Bad Gateway").message == "Bad Gateway"
    assert LineError.from_answer(500, None).message == "HTTP 500"


def test_unreachable_names_what_failed():
    error = LineError.unreachable(ConnectionRefusedError())
    assert (error.status, error.message, error.reached) == (None, "ConnectionRefusedError", False)
