"""The docstring examples of the consumer's modules run as tests."""

import doctest
import importlib
import pkgutil

import pytest

import consumer

MODULES = [m.name for m in pkgutil.iter_modules(consumer.__path__, "consumer.")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
