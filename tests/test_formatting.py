"""The one number formatter: the digits the report, the console and the benchmarks have always written."""

from __future__ import annotations

import math

from pipeline.formatting import cell, p_value, percent, short, signed_fixed, significant


def test_cell_writes_missing_values_as_a_dash_and_infinities_as_symbols():
    assert [cell(None), cell(math.nan), cell(math.inf), cell(-math.inf)] == ["–", "–", "∞", "−∞"]
    assert [cell(True), cell(3), cell(0.123456), cell(0.5, 2, signed=True)] == ["yes", "3", "0.1235", "+0.50"]


def test_p_values_significant_digits_and_signed_differences():
    assert [p_value(None), p_value(5e-5), p_value(0.012345)] == ["–", "< 0.0001", "0.0123"]
    assert [significant(None), significant(1.23456), significant(0.0123456, 3)] == ["–", "1.235", "0.0123"]
    assert [signed_fixed(0.012), signed_fixed(-0.02011)] == ["+0.0120", "-0.0201"]


def test_console_values_and_percentages_use_ascii():
    assert [short(None), short(0.0123456), short(3), short("sam")] == ["-", "0.01235", "3", "sam"]
    assert [percent(None), percent(0.8741)] == ["-", "87.4%"]
