"""Benchmarks are run by hand, months apart: a module that no longer imports (a helper moved, as
`in_holdout` did) is only found by the next person who needs its figure."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name != "common")


def test_every_bench_module_is_found() -> None:
    assert {"cross_domain", "active_learning", "throughput", "real_accuracy"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports_and_has_a_main(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(getattr(module, "main", None)), f"bench.{name} has no main()"
