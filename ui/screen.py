"""The browser window's size, for pages that must fit one screen (presenter mode on a projector).

A script does not know the window it is drawn in. A tiny component (no visible output) reports
``window.innerWidth`` and ``innerHeight`` once it is mounted and again on every resize; each report reruns
the page, which then sizes its charts to the screen. Until the first report, :func:`screen_size` returns
``DEFAULT_SIZE``.
"""

from __future__ import annotations

import streamlit as st

from ui import state

DEFAULT_SIZE = (1920, 1080)  # a projector's, until the browser has said
_JS = """export default function (component) {
  const { setStateValue } = component;
  let last = '';
  const send = () => {
    const size = [window.innerWidth, window.innerHeight];
    if (size.join() !== last) { last = size.join(); setStateValue('size', size); }
  };
  let timer = null;
  const later = () => { clearTimeout(timer); timer = setTimeout(send, 150); };
  send();
  window.addEventListener('resize', later);
  return () => { clearTimeout(timer); window.removeEventListener('resize', later); };
}"""
_probe = st.components.v2.component("fse_screen_probe", html="<span></span>", js=_JS)


def watch_screen() -> None:
    """Mount the probe (once per run, where it takes no room); its reports rerun the page."""
    _probe(key=state.SCREEN_KEY, on_size_change=lambda: None, height=0)


def screen_size() -> tuple[int, int]:
    """(width, height) of the browser window in CSS px, as last reported (``DEFAULT_SIZE`` before that)."""
    return state.reported_screen() or DEFAULT_SIZE
