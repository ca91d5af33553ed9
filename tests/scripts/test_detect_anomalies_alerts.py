"""detect_anomalies.py against a real alert API: every flagged transaction delivered exactly once."""

import json
import shutil

import pandas as pd

import detect_anomalies
from wallet_monitor.delivery import SPOOL_NAME


def _dirs(root) -> list[str]:
    return ["--data-dir", str(root / "data"), "--models-dir", str(root / "models"),
            "--reports-dir", str(root / "reports")]


def _detect(root, url, *extra):
    return detect_anomalies.main([*_dirs(root), "--api-url", url, "--no-figures", *extra])


def _flagged(root) -> set[str]:
    d = pd.read_csv(root / "data" / "detections.csv", dtype={"transaction_id": str})
    return set(d.loc[d["is_anomaly"], "transaction_id"])


def test_detector_posts_every_flagged_transaction(chain, api):
    assert _detect(chain, api.url) == 0
    ids = api.transaction_ids()
    assert len(ids) == len(set(ids))
    assert set(ids) == _flagged(chain) and ids


def test_api_down_then_up_delivers_exactly_the_flagged_set(chain, start_alert_api, free_port,
                                                           capsys):
    spool = chain / "data" / SPOOL_NAME
    url = f"http://127.0.0.1:{free_port}"
    assert _detect(chain, url) == 1
    flagged = _flagged(chain)
    err = capsys.readouterr().err
    assert f"{len(flagged)} alerts wait in {spool}" in err
    assert len(spool.read_text().splitlines()) == len(flagged)

    server = start_alert_api(port=free_port)  # up where the detector has been trying
    assert _detect(chain, url) == 0
    assert not spool.exists()
    assert _detect(chain, url) == 0  # a rerun stores nothing twice
    ids = server.transaction_ids()
    assert len(ids) == len(set(ids))
    assert set(ids) == flagged


def test_a_broken_labels_file_skips_the_evaluation_not_the_alerts(chain, api, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(chain, root)
    (root / "data" / "labels.csv").write_text("transaction_id\n\"unterminated\n")
    assert _detect(root, api.url) == 0
    assert set(api.transaction_ids()) == _flagged(root)
    assert json.loads((root / "reports" / "metrics.json").read_text())["evaluation"] is None

