"""The suite's own settings that keep CI honest on a slow, shared machine."""

from __future__ import annotations


def test_a_hung_test_fails_on_its_own_timeout(request):
    """pytest-timeout is loaded with a finite per-test limit, so a hang fails with a traceback."""
    assert request.config.pluginmanager.hasplugin("timeout")
    limit = float(request.config.getini("timeout"))
    # Long enough for the slowest test on a loaded machine, far short of CI's 90 minutes.
    assert 60 <= limit <= 900
    assert request.config.getini("timeout_method") == "signal"  # the run goes on after a hang
