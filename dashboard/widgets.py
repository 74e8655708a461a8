"""Small Streamlit widgets shared by the pages: friendly errors, the data gate, run pickers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from core.errors import UserError
from dashboard import state

log = logging.getLogger(__name__)


@contextmanager
def friendly(what: str = "this panel", warn: bool = False) -> Iterator[None]:
    """Show any failure inside the block as a one-line message with its fix, never as a traceback."""
    try:
        yield
    except UserError as e:
        (st.warning if warn else st.error)(str(e), icon=":material/warning:")
    except Exception as e:  # a bug: say so plainly, keep the rest of the page alive, log the traceback
        log.exception("dashboard: %s failed", what)
        st.error(f"Something went wrong in {what} ({type(e).__name__}: {e}). The rest of the page still works; "
                 "the full traceback is in the terminal running `make run`.", icon=":material/build:")


def data_gate(key: str) -> bool:
    """True when MNIST is on disk; otherwise explain and offer the one-click fetch."""
    if state.data_present():
        return True
    st.info("MNIST is not downloaded yet (15.5 MB, once). Training fetches it automatically, or fetch it now.",
            icon=":material/inventory_2:")
    if st.button("Fetch MNIST", key=f"{key}_fetch", icon=":material/download:"):
        with friendly("the MNIST download"):
            state.fetch_mnist()
            st.rerun()
    return False


def run_picker(prefixes: tuple[str, ...], key: str, label: str = "Saved run"):
    """A selectbox over saved runs of these kinds (newest first); None when there are none."""
    runs = state.saved_runs(prefixes)
    if not runs:
        st.caption("No saved runs yet: start one above (or `python -m core train ...`); finished runs appear here.")
        return None
    names = [r.label for r in runs]
    choice = st.selectbox(label, names, key=key, help="Runs in the runs folder (core's run store), newest first")
    return runs[names.index(choice)]


PLOT_CONFIG = {"displayModeBar": False}  # no plotly toolbar: on a phone it sits over the chart's title


def chart(fig, key: str, where=None, static: bool = False) -> None:
    """Draw a plotly figure without its toolbar; static=True also drops hover and zoom (cheaper live redraws)."""
    (where or st).plotly_chart(fig, key=key, config={**PLOT_CONFIG, "staticPlot": static})


def stat_row(items: list[tuple[str, str]]) -> None:
    for col, (label, value) in zip(st.columns(len(items)), items, strict=True):
        col.metric(label, value)
