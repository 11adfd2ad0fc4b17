from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from followup.runtime import Runtime


@pytest.fixture
def variant(runtime: Runtime) -> Iterator[Callable[..., Runtime]]:
    """`variant(**settings)`: the test runtime with other settings, closed after."""
    made: list[Runtime] = []

    def make(**changes: object) -> Runtime:
        made.append(Runtime(runtime.settings.with_overrides(**changes), runtime.channels))
        return made[-1]

    yield make
    for rt in made:
        rt.close()
