"""A cold registry answers its first concurrent callers with every built-in, never a partial list.

Each test runs in a fresh interpreter: the registry is filled once per process, so only a truly
cold import shows the race.
"""

from __future__ import annotations

import textwrap

from tests.generate.cold import run_cold

_THREADS = textwrap.dedent(
    """
    import json, threading
    from generate.adapter import get_adapter

    N = 8
    barrier = threading.Barrier(N)
    outcomes = []

    def first_call():
        barrier.wait()
        try:
            outcomes.append(get_adapter("auto").name)
        except Exception as exc:
            outcomes.append(f"error: {exc}")

    threads = [threading.Thread(target=first_call) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(outcomes))
    """
)


def test_concurrent_first_lookups_all_see_the_full_registry():
    outcomes = run_cold(_THREADS)
    assert len(outcomes) == 8
    # No key in the environment: auto resolves to the offline trace model, in every thread.
    assert outcomes == ["trace"] * 8, outcomes
