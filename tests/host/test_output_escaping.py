# irprobe.output: the one escaping path for meter and probe text (issue 14, cases 1 and 7).
import pytest
from irprobe.output import csv_cell, plain_text, safe_text
from rich.markup import render


@pytest.mark.parametrize(
    "text",
    ["\x1b[2J", "\x07", "\x00", "\x7f", "\x9b31m", "\x9d0;t", "\u202eevil", "\u2066x\u2069",
     "a\u200bb", "\ufeff", "line\u2028sep", "\ud800", "cr\rlf\n", "\t"],
)
def test_hidden_and_controlling_characters_become_replacement_marks(text):
    out = plain_text(text)
    assert "\ufffd" in out
    assert all(ch.isprintable() or ch == " " for ch in out)


def test_plain_text_keeps_ordinary_text_and_cuts_long_text():
    assert plain_text("001234.567 kWh é 电") == "001234.567 kWh é 电"
    assert plain_text(None) == "" and plain_text(42) == "42"
    assert plain_text("x" * 10, limit=4) == "xxxx..."


@pytest.mark.parametrize("text", ["[/x]", "[link=http://evil]click[/link]", "[bold]b[/]",
                                  "\\[red]x", "[", "]", "1[/x]*kWh"])
def test_safe_text_is_shown_literally_by_rich(text):
    t = render(safe_text(text))  # what a Table cell or markup print does with it
    assert t.plain == text and not t.spans


@pytest.mark.parametrize(
    "cell,out",
    [("=HYPERLINK(\"http://e\")", "'=HYPERLINK(\"http://e\")"), ("+1+2", "'+1+2"),
     ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("\uff1d1+1", "'\uff1d1+1"),
     ("-000.5", "-000.5"), ("+12.5", "+12.5"), ("001234.567", "001234.567"),
     ("kWh", "kWh"), ("\x9b=1", "\ufffd=1"), ("\t=1", "\ufffd=1")],
)
def test_csv_cells_never_start_a_formula(cell, out):
    assert csv_cell(cell) == out


def test_csv_cell_keeps_numbers_and_empty():
    assert csv_cell(None) == "" and csv_cell(7) == 7
