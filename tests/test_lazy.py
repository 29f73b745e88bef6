"""Names a package imports on first use."""

from __future__ import annotations

import types

import pytest

from dagron._lazy import lazy_names


def test_lazy_names_import_on_first_use_and_keep_the_name() -> None:
    namespace: dict[str, object] = {}
    find = lazy_names("pkg", namespace, {"dumps": "json"})
    import json

    assert find("dumps") is json.dumps and namespace["dumps"] is json.dumps


def test_lazy_names_unknown_name_is_an_attribute_error() -> None:
    module = types.ModuleType("pkg")
    module.__getattr__ = lazy_names("pkg", vars(module), {})  # type: ignore[method-assign]
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nope'"):
        module.nope  # noqa: B018
