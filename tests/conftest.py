"""Shared test fixtures."""
import logging
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def quiet_figures(caplog):
    """Warnings are errors; nothing logged; every figure is drawn (layout warnings happen then) and closed.

    Use it in a test module with ``pytestmark = pytest.mark.usefixtures("quiet_figures")``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING):
            yield
            for num in plt.get_fignums():
                plt.figure(num).canvas.draw()
    plt.close("all")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
