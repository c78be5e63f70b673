"""tools/feedback_figures.py on the bug corpus (fast mode): the feedback never names a wrong cause,
names the right one for at least 80% of the failures, and no correct style fails a hidden case."""
import sys

from assignments_helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import feedback_figures  # noqa: E402


def test_feedback_figures_on_the_corpus(capsys):
    fig = feedback_figures.figures(fast=True)
    assert fig["failures"] >= 100, "the corpus fails too few hidden cases to measure anything"
    assert fig["misleading"] == 0, fig["misleading_cases"][:5]
    assert fig["correct_styles_failed"] == 0, fig["style_failures"][:5]
    assert fig["correct_cause"] >= 0.8 * fig["failures"], (fig["correct_cause"], fig["failures"])
    assert {"style_vectorised", "style_float32"} <= set(fig["files"])
    assert feedback_figures.main(["--fast"]) == 0
    out = capsys.readouterr().out
    assert "misleading hints: 0" in out and "correct styles failed: 0" in out


def test_a_misleading_cause_is_counted(tmp_path):
    """The measure can fail: a corpus file whose stated cause is not what the judge names."""
    src = (ROOT / "tests" / "submissions" / "bug_conv_no_bias.py").read_text()
    wrong = tmp_path / "bug_conv_no_bias_mislabelled.py"
    wrong.write_text(src.replace("feedback: the bias b was left out",
                                 "cause: the kernel was flipped"))
    fig = feedback_figures.figures(fast=True, files=[wrong])
    assert fig["failures"] > 0 and fig["misleading"] == fig["failures"]
