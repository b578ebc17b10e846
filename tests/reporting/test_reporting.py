"""Tests for cnnjax.reporting: metrics log, TensorBoard events, plots, progress bar, summary."""

import glob
import json
import os
import struct

from tensorboardX.proto.event_pb2 import Event, SessionLog

from cnnjax.reporting import MetricsLog, Progress, plot_training_curves, read_metrics, write_summary


def _read_events(workdir):
    """All events of workdir/tensorboard, parsed from the TFRecord framing (CRCs not checked)."""
    events = []
    for path in sorted(glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            events.append(Event.FromString(data[pos + 12 : pos + 12 + length]))
            pos += 12 + length + 4
    return events


def _scalars(events, tag):
    return [(e.step, v.simple_value) for e in events for v in e.summary.value if v.tag == tag]


def test_jsonl_round_trip(tmp_path):
    log = MetricsLog(str(tmp_path))
    log.write(10, "train", {"loss": 0.5, "accuracy": 0.75})
    log.write(10, "validation", {"loss": 0.6, "accuracy": 0.7})
    log.close()
    rows = read_metrics(str(tmp_path))
    assert [(r["step"], r["split"], r["loss"], r["accuracy"]) for r in rows] == [
        (10, "train", 0.5, 0.75),
        (10, "validation", 0.6, 0.7),
    ]
    assert all(isinstance(r["time"], float) for r in rows)
    assert [r["split"] for r in read_metrics(str(tmp_path), "validation")] == ["validation"]
    assert read_metrics(str(tmp_path / "missing")) == []


def test_each_write_is_on_disk_before_close(tmp_path):
    log = MetricsLog(str(tmp_path))
    log.write(1, "train", {"loss": 1.0})
    assert len(read_metrics(str(tmp_path))) == 1
    log.close()


def test_resume_truncates_jsonl_and_purges_tensorboard(tmp_path):
    log = MetricsLog(str(tmp_path))
    for step in range(1, 11):
        log.write(step, "train", {"loss": float(step)})
    log.close()
    log = MetricsLog(str(tmp_path), resume_step=6)
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1, 2, 3, 4, 5, 6]
    for step in (7, 8):
        log.write(step, "train", {"loss": 100.0 + step})
    log.close()
    rows = read_metrics(str(tmp_path))
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert [r["loss"] for r in rows][-2:] == [107.0, 108.0]
    assert not os.path.exists(tmp_path / "metrics.jsonl.tmp")

    events = _read_events(str(tmp_path))
    assert any(e.step == 7 and e.session_log.status == SessionLog.START for e in events)
    assert _scalars(events, "train/loss")[-2:] == [(7, 107.0), (8, 108.0)]


def test_resume_drops_partial_last_line(tmp_path):
    with open(tmp_path / "metrics.jsonl", "w") as f:
        f.write('{"step": 1, "split": "train", "loss": 1.0}\n{"step": 2, "spl')
    MetricsLog(str(tmp_path), resume_step=5).close()
    assert [r["step"] for r in read_metrics(str(tmp_path))] == [1]


def test_tensorboard_scalars_read_back(tmp_path):
    log = MetricsLog(str(tmp_path))
    log.write(5, "train", {"loss": 0.25, "accuracy": 0.5})
    log.write(5, "validation", {"accuracy": 0.75})
    log.close()
    events = _read_events(str(tmp_path))
    assert _scalars(events, "train/loss") == [(5, 0.25)]
    assert _scalars(events, "train/accuracy") == [(5, 0.5)]
    assert _scalars(events, "validation/accuracy") == [(5, 0.75)]


def test_disabled_writes_nothing(tmp_path):
    workdir = tmp_path / "run"
    log = MetricsLog(str(workdir), resume_step=3, enabled=False)
    log.write(1, "train", {"loss": 1.0})
    log.close()
    assert not workdir.exists()


def _assert_png(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 5000


def test_plot_all_splits(tmp_path):
    log = MetricsLog(str(tmp_path))
    for step in range(0, 101, 10):
        log.write(step, "train", {"loss": 1.0 / (step + 1), "accuracy": step / 100})
        if step % 50 == 0:
            log.write(step, "validation", {"loss": 1.1 / (step + 1), "accuracy": step / 110})
    log.write(100, "test", {"loss": 0.02, "accuracy": 0.9})
    log.close()
    path = plot_training_curves(str(tmp_path))
    assert path == str(tmp_path / "training_curves.png")
    _assert_png(path)


def test_plot_train_only_and_empty(tmp_path):
    log = MetricsLog(str(tmp_path))
    log.write(1, "train", {"loss": 2.0})
    log.write(2, "train", {"loss": 1.0})
    log.close()
    _assert_png(plot_training_curves(str(tmp_path)))
    (tmp_path / "empty").mkdir()
    _assert_png(plot_training_curves(str(tmp_path / "empty")))


def test_progress(capsys):
    progress = Progress(total_steps=100, initial_step=10)
    progress.update(50, {"loss": 0.1234, "accuracy": 0.5}, images_per_sec=1234.0)
    progress.write("eval: accuracy 50.00%")
    progress.update(100, {"loss": 0.05}, images_per_sec=2000.0)
    progress.close()
    err = capsys.readouterr().err
    assert "eval: accuracy 50.00%" in err
    assert "100/100" in err and "loss=0.0500" in err and "2,000 img/s" in err

    quiet = Progress(total_steps=100, enabled=False)
    quiet.update(5, {"loss": 1.0, "accuracy": 0.1}, images_per_sec=10.0)
    quiet.write("hidden")
    quiet.close()
    assert capsys.readouterr().err == ""


def test_summary(tmp_path):
    summary = {
        "experiment": "digits_lenet5",
        "test_accuracy": 0.98148,
        "test_loss": 0.07123,
        "num_test_examples": 270,
        "steps": 1200,
        "train_seconds": 41.27,
        "seed": 0,
    }
    line = write_summary(str(tmp_path / "run"), summary, "test accuracy 98.15% (270 examples)")
    expected = "digits_lenet5: test accuracy 98.15% (270 examples) · test loss 0.0712 · 1200 steps · 41.3 s"
    assert line == expected
    assert (tmp_path / "run" / "summary.txt").read_text(encoding="utf-8") == expected + "\n"
    assert json.loads((tmp_path / "run" / "summary.json").read_text()) == {**summary, "line": expected}
