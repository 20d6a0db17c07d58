"""The server's size limits are set explicitly and bounded (.streamlit/config.toml)."""
from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_upload_and_message_sizes_are_set_and_bounded():
    with open(REPO / ".streamlit" / "config.toml", "rb") as handle:
        server = tomllib.load(handle)["server"]
    for option in ("maxUploadSize", "maxMessageSize"):  # megabytes
        value = server.get(option)
        assert isinstance(value, int) and not isinstance(value, bool), (option, value)
        assert 1 <= value <= 100, (option, value)  # Streamlit's default is 200


def test_streamlit_reads_the_limits_from_the_file():
    """The names are Streamlit's own: a misspelt option would be ignored silently."""
    from streamlit import config

    with open(REPO / ".streamlit" / "config.toml", "rb") as handle:
        server = tomllib.load(handle)["server"]
    known = {name.split(".", 1)[1] for name in config.get_config_options()
             if name.startswith("server.")}
    assert set(server) <= known, set(server) - known
