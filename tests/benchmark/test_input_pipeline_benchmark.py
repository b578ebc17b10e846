"""benchmarks/input_pipeline.py runs end to end at a tiny size (the torch column only where torch is installed)."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_input_pipeline_benchmark_quick_run(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("input_pipeline_benchmark", ROOT / "benchmarks" / "input_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    rows = [line.split(" | ") for line in out.splitlines() if line.startswith("| 0 |")]
    assert len(rows) == 2, out  # 0 workers: serial and one thread per core
    for row in rows:
        assert float(row[2]) > 0 and float(row[5]) > 0, out  # cnnjax train and eval img/s
        assert (row[3] == "-") == (not module.torch_available()), out
    assert "per image, one thread: decode" in out and "host->device 150528 B uint8" in out, out
