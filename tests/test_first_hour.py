"""What a user hits in the first hour: messages that say what happened."""

from __future__ import annotations

import socket

import pytest

from cutover.errors import TargetError
from cutover.load import target


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_wrong_port_says_connection_refused_on_one_line() -> None:
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{_closed_port()}/chat"
    with pytest.raises(TargetError) as raised:
        target.connect(url)
    message = str(raised.value)
    assert "Connection refused" in message and "\t" not in message and "\n" not in message
    assert "s3cret-pw" not in message
