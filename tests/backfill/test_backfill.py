"""The Dask engine against the pandas engine, on the small generated set, with a real local
cluster of 2 workers (started once for the module; the scripts reach it by --scheduler)."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

import detect_anomalies
import feature_engineering
import train_model
from wallet_monitor import synth
from wallet_monitor.backfill import cluster, features_frame, gather, inputs
from wallet_monitor.backfill.inputs import read_input
from wallet_monitor.features import load_logins, load_transactions, load_wallets
from wallet_monitor.schema import InputError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    """The address of a local Dask cluster of 2 single-threaded worker processes."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="2GB",
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def parquet_dir(tmp_path_factory, small_frames):
    """The small set as Parquet folders of part files of 2,000 rows (several per input)."""
    path = tmp_path_factory.mktemp("parquet_data")
    synth.write(small_frames, path, "parquet", chunk_rows=2_000)
    return path


def _engine_args(scheduler, *extra):
    return ["--engine", "dask", "--scheduler", scheduler, "--dask-partitions", "3", *extra]


@pytest.fixture(scope="module")
def pandas_dir(chain, tmp_path_factory):
    """The chain's data scored by the pandas engine (detections.csv, wallet_scores.csv)."""
    path = tmp_path_factory.mktemp("pandas_engine") / "data"
    shutil.copytree(chain / "data", path)
    _detect(chain, path, path.parent)
    return path


def _detect(chain, data, tmp_path, *extra):
    args = ["--data-dir", str(data), "--models-dir", str(chain / "models"), "--reports-dir",
            str(tmp_path / "reports"), "--no-alerts", "--no-figures", *extra]
    assert detect_anomalies.main(args) == 0


def test_dask_features_file_is_byte_for_byte_the_pandas_one(chain, scheduler, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(chain / "data", data)
    assert feature_engineering.main(["--data-dir", str(data), *_engine_args(scheduler)]) == 0
    assert (data / "features.csv").read_bytes() == (chain / "data" / "features.csv").read_bytes()
    assert (data / "features.meta.json").exists()


def test_dask_detections_and_wallet_scores_equal_the_pandas_engines(
        chain, scheduler, pandas_dir, tmp_path):
    dask_dir = tmp_path / "dask"
    shutil.copytree(chain / "data", dask_dir)
    _detect(chain, dask_dir, tmp_path, *_engine_args(scheduler))
    for name in ("detections.csv", "wallet_scores.csv"):
        assert (dask_dir / name).read_bytes() == (pandas_dir / name).read_bytes(), name
    flagged = pd.read_csv(dask_dir / "detections.csv")["is_anomaly"]
    assert 0 < flagged.sum() < len(flagged)
    # Raised through a link across wallets (a chain's next hop, a funding transfer).
    reasons = pd.read_csv(dask_dir / "detections.csv")["reasons"].fillna("")
    assert reasons.str.contains("part of an episode").any()


def test_parquet_and_csv_inputs_give_the_same_detections_in_both_engines(
        chain, scheduler, parquet_dir, pandas_dir, tmp_path):
    shutil.copytree(parquet_dir, tmp_path / "pq_pandas")
    shutil.copytree(parquet_dir, tmp_path / "pq_dask")
    _detect(chain, tmp_path / "pq_pandas", tmp_path, "--output-format", "parquet")
    _detect(chain, tmp_path / "pq_dask", tmp_path, *_engine_args(scheduler),
            "--output-format", "parquet")
    expected = pd.read_csv(pandas_dir / "detections.csv")
    for engine in ("pq_pandas", "pq_dask"):
        got = pd.read_parquet(tmp_path / engine / "detections.parquet")
        assert list(got.columns)[0] == "transaction_id"
        got["timestamp"] = got["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        pd.testing.assert_frame_equal(got.fillna(""), expected.fillna(""), check_dtype=False)


def test_training_reads_parquet_features_and_a_dask_sample(chain, scheduler, parquet_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(parquet_dir, data)
    assert feature_engineering.main(["--data-dir", str(data), "--output-format", "parquet"]) == 0
    features = pd.read_parquet(data / "features.parquet")
    assert list(features.columns)[0] == "transaction_id"
    assert train_model.main(["--data-dir", str(data), "--models-dir", str(tmp_path / "m"),
                             "--reports-dir", str(tmp_path / "r"), "--engine", "dask",
                             "--sample", "1000"]) == 0
    assert (tmp_path / "m" / "fraud_model.pkl").exists()


def _bad_csv(tmp_path, lines):
    path = tmp_path / "transactions.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _dask_error(path, kind="transactions") -> str:
    with pytest.raises(InputError) as err:
        read_input(path, kind)
    return str(err.value)


def _pandas_error(path, kind="transactions") -> str:
    with pytest.raises(InputError) as err:
        (load_transactions if kind == "transactions" else load_logins)(path)
    return str(err.value)


@pytest.mark.parametrize("row, column", [
    ("t{i},w1,2026-01-01T00:00:{s:02d}Z,-5,deposit,1.2.3.4", "amount"),
    ("t{i},w1,yesterday,5,deposit,1.2.3.4", "timestamp"),
    ("t{i},w1,2026-01-01T00:00:{s:02d}Z,5,gift,1.2.3.4", "type"),
    ("t3,w1,2026-01-01T00:00:{s:02d}Z,5,deposit,1.2.3.4", "transaction_id"),
])
def test_a_malformed_csv_is_reported_as_the_pandas_path_reports_it(
        scheduler, tmp_path, monkeypatch, row, column):
    monkeypatch.setattr(inputs, "CSV_BLOCK_BYTES", 200)  # several blocks: line numbers carry over
    lines = ["transaction_id,wallet_id,timestamp,amount,type,ip_address"]
    lines += [f"t{i},w1,2026-01-01T00:00:{i:02d}Z,5,deposit,1.2.3.4" for i in range(30)]
    lines[25] = row.format(i=99, s=40)
    lines[28] = row.format(i=98, s=41)
    path = _bad_csv(tmp_path, lines)
    with distributed.Client(scheduler):
        message = _dask_error(path)
    assert message == _pandas_error(path)
    assert f"column '{column}'" in message and "line 26" in message and "line 29" in message


def test_a_malformed_parquet_part_names_the_row_across_parts(scheduler, parquet_dir, tmp_path):
    logins = tmp_path / "logins.parquet"
    shutil.copytree(parquet_dir / "logins.parquet", logins)
    second = sorted(logins.glob("*.parquet"))[1]
    part = pd.read_parquet(second)
    part.loc[7, "success"] = 5
    part.to_parquet(second, index=False)
    with distributed.Client(scheduler):
        message = _dask_error(logins, "logins")
    assert message == _pandas_error(logins, "logins")
    assert message.startswith("logins.parquet: column 'success': expected 0/1") and "row 2008" in message


def _exit_once(part: pd.DataFrame, flag: str) -> pd.DataFrame:
    """Kill the worker process running this, the first time only (a worker lost mid-run)."""
    if not os.path.exists(flag):
        open(flag, "w").close()
        os._exit(1)
    return part


def test_a_worker_lost_mid_run_is_recomputed_not_a_failed_run(chain, scheduler, tmp_path):
    data = chain / "data"
    flag = tmp_path / "killed"
    with distributed.Client(scheduler) as client:
        work = features_frame(data / "transactions.csv", load_wallets(data / "wallets.csv"),
                              data / "logins.csv", partitions=3)
        work.frame = work.frame.map_partitions(_exit_once, str(flag), meta=work.frame._meta)
        got = pd.concat(list(gather(client, work, "features")), ignore_index=True)
    assert flag.exists()
    expected = pd.read_csv(data / "features.csv")
    pd.testing.assert_frame_equal(got.round(6), expected, check_dtype=False, atol=1e-6)


def test_a_local_clusters_workers_allocate_as_a_pandas_process():
    # glibc here: the thresholds are set, in every worker of a local cluster (restarted too).
    assert cluster._pandas_heap()
    with cluster.connect(workers=1, memory_limit="1GB") as client:
        plugins = client.run(lambda dask_worker: sorted(dask_worker.plugins))
    assert all("wallet-monitor-pandas-heap" in p for p in plugins.values()) and plugins
