"""The suite's own settings that keep CI honest on a slow, shared machine."""

from __future__ import annotations


def test_a_hung_test_fails_on_its_own_timeout(request):
    """pytest-timeout is loaded with a finite per-test limit, so a hang fails with a traceback."""
    assert request.config.pluginmanager.hasplugin("timeout")
    limit = float(request.config.getini("timeout"))
    # Long enough for the slowest test on a loaded machine, far short of CI's 90 minutes.
    assert 60 <= limit <= 900
    assert request.config.getini("timeout_method") == "signal"  # the run goes on after a hang


def test_every_variable_the_code_reads_is_isolated_per_test():
    """A developer's or CI machine's own settings never change what a test sees."""
    import tests.conftest as suite
    from tests.docs.code_vars import SDK_VARS, code_vars

    unisolated = (
        (code_vars() | SDK_VARS) - set(suite._ISOLATED) - {*suite.SET_BY_THE_SUITE, *suite.LEFT_AS_IS}
    )
    assert not unisolated, f"add to tests/conftest.py _ISOLATED: {sorted(unisolated)}"


def test_an_environment_change_made_by_hand_ends_with_its_test_a():
    import os

    os.environ["SKETCHGEN_SUITE_LEAK_PROBE"] = "1"  # as load_dotenv() in an in-process main() does


def test_an_environment_change_made_by_hand_ends_with_its_test_b():
    import os

    assert "SKETCHGEN_SUITE_LEAK_PROBE" not in os.environ  # set by the test just before
