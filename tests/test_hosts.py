"""Issue 20: allowedHosts with ports and case (ui/hosts.py, applied by app.py to every run)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ui.hosts import host_allowed, split_host

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("host, ok", [
    ("localhost:8501", True), ("LOCALHOST:8501", True), ("localhost.:8501", True), ("127.0.0.1:8501", True),
    ("localhost", True), ("localhost:9999", False), ("evil.example:8501", False), ("localhost:8501@evil", False),
    ("", False), (None, False), ("localhost:99999", False), ("local host:8501", False),
])
def test_names_compare_case_blind_and_ports_are_honoured(host, ok):
    assert host_allowed(host, ["localhost", "127.0.0.1"], 8501) is ok


def test_an_entry_with_a_port_admits_that_port_only_and_wildcards_need_a_subdomain():
    allowed = ["Explorer.Example.org:8443", "*.lab.example"]
    assert host_allowed("explorer.example.org:8443", allowed, 8501)
    assert not host_allowed("explorer.example.org:8501", allowed, 8501)
    assert not host_allowed("explorer.example.org", allowed, 8501)
    assert host_allowed("a.lab.example", allowed, 8501) and host_allowed("A.LAB.example:8501", allowed, 8501)
    assert not host_allowed("lab.example", allowed, 8501) and not host_allowed("evillab.example", allowed, 8501)
    assert host_allowed("anything:1", [], 8501) and host_allowed("x:1", ["*"], 8501)
    assert split_host("Host.Example.:80") == ("host.example", 80) and split_host("a/b") is None


def test_the_shipped_config_lists_plain_lower_case_names():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    hosts = config["server"]["allowedHosts"]
    assert hosts and all(split_host(h) == (h, None) for h in hosts)
