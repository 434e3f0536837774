"""The app's own check of the Host a page was asked for, on top of Streamlit's ``server.allowedHosts``.

Streamlit compares only the host *name* of a WebSocket's ``Host`` header with ``server.allowedHosts`` and
drops any port (``localhost:9999`` passes for ``localhost``; an entry written with a port,
``explorer.example.org:8443``, never matches anything). The app reads the same list and applies it to every
script run: names compare case-blind (DNS names are; ``LOCALHOST`` is ``localhost``) with a trailing dot
dropped, and a port is honoured — an entry with a port admits only that port, an entry without one admits
the port the server listens on (``server.port``) and the default ports 80/443 (behind a proxy). A page asked
for under any other Host shows one sentence and nothing else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

DEFAULT_PORTS = (80, 443)


def split_host(text: str) -> tuple[str, int | None] | None:
    """(lower-case name without trailing dot, port or None) of a Host header or allowedHosts entry;
    None when it is not a plain host[:port] (user info, a path, a bad port)."""
    text = (text or "").strip()
    if not text or any(c in text for c in "/?#@\\ \t"):
        return None
    try:
        parts = urlsplit("//" + text)
        port = parts.port
    except ValueError:
        return None
    name = (parts.hostname or "").rstrip(".")
    return (name, port) if name else None


def host_allowed(host: str | None, allowed: list[str] | tuple[str, ...], server_port: int) -> bool:
    """True when ``host`` (a request's Host header) is admitted by ``allowed`` (``server.allowedHosts``)
    on a server listening on ``server_port``. An empty list admits every host (Streamlit's default)."""
    if not allowed:
        return True
    got = split_host(host or "")
    if got is None:
        return False
    name, port = got
    for entry in allowed:
        if entry.strip() == "*":
            return True
        want = split_host(entry.replace("*.", "wildcard.", 1) if entry.strip().startswith("*.") else entry)
        if want is None:
            continue
        want_name, want_port = want
        if entry.strip().startswith("*."):
            suffix = want_name[len("wildcard"):]
            name_ok = name.endswith(suffix) and len(name) > len(suffix)
        else:
            name_ok = name == want_name
        if not name_ok:
            continue
        if want_port is not None:
            if port == want_port:
                return True
        elif port is None or port == server_port or port in DEFAULT_PORTS:
            return True
    return False


def stop_unless_allowed() -> None:
    """Draw one sentence and stop the run when this page's Host is not admitted (nothing without a Host
    header: AppTest and scripts have no request)."""
    try:
        host = st.context.headers.get("Host")
    except Exception:  # noqa: BLE001 (no request context)
        return
    if not host:
        return
    if not host_allowed(host, list(st.get_option("server.allowedHosts") or []), int(st.get_option("server.port"))):
        st.error("This server does not answer under this host name and port.")
        st.stop()
