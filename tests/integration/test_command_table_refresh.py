"""The command table learns the verified master's own COMMAND reply, so commands the
built-in table has never seen (newer Redis versions, modules) are still classified by the
server's flags; and a command nobody knows is still forwarded to the master."""

from __future__ import annotations

import re

import redis

import harness


def test_table_refreshed_from_master_command_reply(module_proxy):
    proxy = module_proxy

    def refreshed():
        return re.search(r"command table refreshed from the master's COMMAND: (\d+) entries learned",
                         proxy.log_path.read_text())

    harness.wait_until(refreshed, timeout=20, what="command table refresh logged")
    learned = int(refreshed().group(1))
    # Redis 7.0 reports over 200 commands (and their subcommands).
    assert learned >= 200, learned


def test_unknown_command_is_forwarded_not_refused(module_proxy):
    client = module_proxy.client()
    try:
        client.execute_command("NOSUCHCOMMAND", "x")
        raise AssertionError("expected Redis's own error")
    except redis.ResponseError as e:
        # Redis's wording, from the master: the proxy did not refuse it itself.
        assert "unknown command" in str(e), str(e)
