"""A Bot API peer that never answers in time, shared by the client and redaction tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from retrain_assets_tests.support.telegram_api import OK_BODY, SEND_PATH


@pytest.fixture
def hanging_server() -> Iterator[HTTPServer]:
    """A server whose sendMessage never answers in time (until the test ends)."""
    release = threading.Event()

    def handler(_request: Request) -> Response:
        release.wait(timeout=10)
        return Response(json.dumps(OK_BODY), status=200, content_type="application/json")

    # Threaded and private to the test, so parked requests block neither each other nor the
    # shared `httpserver` used by other tests.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(SEND_PATH).respond_with_handler(handler)
    server.start()
    try:
        yield server
    finally:
        release.set()
        server.clear()
        server.stop()
