"""The files under deploy/: the systemd unit passes ``systemd-analyze verify``, and the Grafana
dashboard names only metrics a node exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from telex.app import Node, build_app
from tests.conftest import make_settings
from tests.support.pg import PostgresCluster

_DEPLOY = Path(__file__).parents[2] / "deploy"
_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created")


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    unit = (_DEPLOY / "telex.service").read_text()
    assert "ExecStart=/usr/local/bin/telex serve" in unit
    # verify checks that the command exists: point it at this environment's telex
    telex = Path(sys.executable).with_name("telex")
    (tmp_path / "telex.service").write_text(unit.replace("/usr/local/bin/telex", str(telex)))
    run = subprocess.run(
        [analyze, "verify", str(tmp_path / "telex.service")], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr


async def test_the_dashboard_names_only_metrics_a_node_exports(
    tmp_path: Path, pg_cluster: PostgresCluster
) -> None:
    dashboard = json.loads((_DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {m for e in exprs for m in re.findall(r"\btelex_[a-z0-9_]+", e)}
    assert len(named) >= 12
    node = await Node.open(make_settings(tmp_path, pg_cluster.create_database()))  # pool metrics: PostgreSQL
    try:
        build_app(node)  # registers the HTTP metrics
        families = [f.name for f in node.registry.collect()]
    finally:
        await node.close()
    exported = {f + s for f in families for s in _SUFFIXES}
    assert named <= exported, sorted(named - exported)
