"""Fixtures shared by the model tests."""

import pytest

from tests.model._support import MODELS, _train, _with_outliers


@pytest.fixture(scope="module")
def planted():
    df = _with_outliers()
    return df, {(m, s): _train(df, m, s) for m, s in MODELS}
