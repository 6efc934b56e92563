"""One-line summaries of unexpected errors (mspviewer.errors.summarise)."""

from mspviewer.errors import SUMMARY_CHARS, summarise


def test_a_short_error_is_its_type_and_message():
    assert summarise(ValueError("boom")) == "ValueError: boom"
    assert summarise(KeyError()) == "KeyError"
    assert summarise(RuntimeError("  padded \n")) == "RuntimeError: padded"


def test_a_long_or_multi_line_error_is_cut_and_says_so():
    long = summarise(RuntimeError("x" * 1000))
    assert len(long) == SUMMARY_CHARS and long.endswith("…")
    assert long.startswith("RuntimeError: xxx")
    assert summarise(OSError("first\nsecond")) == "OSError: first…"
