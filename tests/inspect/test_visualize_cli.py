"""`cnnjax visualize`: every kind writes its PNG from a trained run's workdir; user errors are one line, raised
before any compile."""

import pytest

from cnnjax import errors
from cnnjax.cli import main

PNG = b"\x89PNG\r\n\x1a\n"
KINDS = {  # kind -> (run, options): short ascents, few examples
    "filters": ("digits", ()),
    "features": ("digits", ("--index", "3", "--layers", "c1,s4")),
    "maximize": ("digits", ("--steps", "30", "--l1", "0.5", "--jitter", "1", "--blur", "0.5", "--tv", "0.1")),
    "saliency": ("shapes", ("--channels", "1,2")),
    "adversarial": ("digits", ("--count", "4", "--steps", "10")),
    "dream": ("shapes", ("--steps", "4", "--octaves", "2", "--layer", "encoder2")),
    "style": ("digits", ("--content_layer", "c3", "--style_layers", "c1,c3", "--steps", "10")),
}


@pytest.fixture(scope="module")
def workdirs(digits_workdir, shapes_workdir):
    return {"digits": digits_workdir, "shapes": shapes_workdir}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_writes_its_png(kind, workdirs, tmp_path, capsys):
    run, options = KINDS[kind]
    out = tmp_path / f"{kind}.png"
    assert main(["visualize", kind, "--workdir", workdirs[run], "--out", str(out), *options]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: ")
    assert out.read_bytes()[:8] == PNG


def test_errors_are_one_line(workdirs, tmp_path, capsys):
    digits, shapes, out = workdirs["digits"], workdirs["shapes"], str(tmp_path / "x.png")
    cases = [
        (["maximize", "--workdir", digits, "--out", out, "--layer", "c2"], "unknown layer 'c2'; did you mean"),
        (["filters", "--workdir", digits, "--out", out, "--epsilon", "0.1"], "--epsilon is not an option of"),
        (["adversarial", "--workdir", shapes, "--out", out], "adversarial examples are for classifiers"),
        (["dream", "--workdir", digits, "--out", out], "this model needs one octave (octaves=1)"),
        (["filters", "--workdir", digits, "--out", str(tmp_path / "x.jpg")], "--out must name a .png file"),
        (["paint", "--workdir", digits, "--out", out], "unknown kind 'paint'"),
        (["saliency", "--workdir", digits, "--out", out, "--layer", "s4"], "'s4' is a features-dict entry"),
        (["maximize", "--workdir", digits, "--out", out, "--channels", "10"], "channels 0..9; got 10"),
        (["features", "--workdir", digits, "--out", out, "--index", "999"], "example 999 is outside the test split"),
    ]
    for argv, message in cases:
        assert main(["visualize", *argv]) == errors.EXIT_USER_ERROR, argv
        err = capsys.readouterr().err
        assert err.startswith("cnnjax: error: ") and message in err and err.count("\n") == 1, err
