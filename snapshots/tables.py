"""A view's table as CSV and XLSX: the numbers as numbers, the context above, the rules below.

Each file starts with the view's title and context (measure, stratifier, filters, reference,
period, data as-of date, generated-at time, suppression, flag rule), then the table, then the
suppression rule, the flag rule and the methods footnote. Rates and differences are on the
display scale of the measure (percent, per 10,000, mmHg), rounded two decimals beyond what
the dashboard prints; counts are whole numbers; suppressed groups are listed by name with
empty cells.

CSV/XLSX injection (OWASP): a text cell that begins with `=`, `+`, `-`, `@`, a tab or a
carriage return (or their full-width forms) is prefixed with a single quote, so no
spreadsheet reads it as a formula. Only text cells: numbers, negative differences included,
stay numbers.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field

import pandas as pd

from charts.palette import as_number, rate_scale, stratifier_label
from metrics.disparity import UNSTABLE_BELOW, UNSTABLE_EVENTS_BELOW
from snapshots.views import (
    FLAG_RULE,
    METHODS_NOTE,
    SUPPRESSION_RULE,
    Rendered,
    changes_heading,
)

#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection),
#: with the full-width forms some spreadsheets fold onto them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PRODUCER = "Health-equity dashboard"


def neutralise(value):
    """A text cell that a spreadsheet could read as a formula, prefixed with "'"; any other
    value (numbers included, negative ones too) unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass
class ExportTable:
    """Headers, rows of plain values (str, int, float or None) and a format per column:
    text, count, rate (with `decimals`), ratio, p or percent."""
    headers: list[str]
    rows: list[list]
    formats: list[str]
    decimals: dict[int, int] = field(default_factory=dict)


def _num(value, digits: int | None = None):
    number = as_number(value)
    if number is None:
        return None
    return round(number, digits) if digits is not None else number


def _count(value):
    number = as_number(value)
    return None if number is None else int(round(number))


def _p(value):
    number = as_number(value)
    return None if number is None else float(f"{number:.6g}")


def _yes(value) -> str:
    return "yes" if bool(value) and not (isinstance(value, float) and math.isnan(value)) \
        else "no"


def _units(attrs) -> tuple[str, str, str, object]:
    """(Rate|Mean, rate unit for headers, difference unit, scale)."""
    kind = attrs.get("kind") or "proportion"
    unit = attrs.get("unit") or ("%" if kind == "proportion" else "")
    scale = rate_scale(kind, unit)
    word = "Mean" if kind == "mean" else "Rate"
    rate_unit = "%" if scale.percent else scale.axis
    difference_unit = "percentage points" if scale.percent else scale.axis
    return word, rate_unit, difference_unit, scale


def _header(word: str, unit: str) -> str:
    return f"{word} ({unit})" if unit else word


def export_table(rendered: Rendered) -> ExportTable:
    """The rendered view's table in export form (never more than the view's table holds)."""
    rendered.assert_safe()
    kind = rendered.view.kind
    table = rendered.table
    if kind in ("disparity", "share"):
        return _groups_table(table, list(rendered.view.by))
    if kind in ("trend", "control"):
        return _monthly_table(table, rendered.view.by[0], control=kind == "control")
    if kind == "largest_gaps":
        return _gaps_table(table)
    if kind == "completeness":
        return _completeness_table(table, rendered.view.by[0])
    return _phases_table(table)


def _groups_table(table: pd.DataFrame, by: list[str]) -> ExportTable:
    word, rate_unit, diff_unit, scale = _units(table.attrs)
    m, d = scale.multiplier, scale.decimals + 2
    kind = table.attrs.get("kind") or "proportion"
    with_events = kind in ("proportion", "rate")  # a rate's events are counted too
    headers = [stratifier_label(name) for name in by] + ["Cases"]
    formats = ["text"] * len(by) + ["count"]
    if with_events:
        headers.append("Met the measure" if table.attrs.get("higher_is_better", True)
                       and kind == "proportion" else "Events")
        formats.append("count")
    headers += [_header(word, rate_unit), "95 % CI lower", "95 % CI upper", "Reference group",
                _header("Difference from reference", diff_unit), "Difference 95 % CI lower",
                "Difference 95 % CI upper", "Ratio to reference", "Ratio 95 % CI lower",
                "Ratio 95 % CI upper", "p-value", "Flagged", "Suppressed",
                _unstable_header(kind)]
    formats += ["rate"] * 3 + ["text"] + ["rate"] * 3 + ["ratio"] * 3 + ["p"] + ["text"] * 3
    rows = []
    for record in table.to_dict("records"):
        row = [str(record[name]) for name in by] + [_count(record["denominator"])]
        if with_events:
            row.append(_count(record["numerator"]))
        row += [_num(_scaled(record["rate"], m), d), _num(_scaled(record["rate_lower"], m), d),
                _num(_scaled(record["rate_upper"], m), d), _yes(record["is_reference"]),
                _num(_scaled(record["difference"], m), d),
                _num(_scaled(record["difference_lower"], m), d),
                _num(_scaled(record["difference_upper"], m), d),
                _num(record["ratio"], 4), _num(record["ratio_lower"], 4),
                _num(record["ratio_upper"], 4), _p(record["p_value"]),
                _yes(record["flagged"]), _yes(record["suppressed"]), _yes(record["unstable"])]
        rows.append(row)
    return ExportTable(headers, rows, formats, _decimals(formats, scale.decimals))


def _unstable_header(kind: str) -> str:
    """The column that marks unstable rates, in the words of the rule for the measure's kind
    (a rate is unstable on few events as well: metrics.disparity)."""
    if kind == "rate":
        return f"Fewer than {UNSTABLE_BELOW} cases or {UNSTABLE_EVENTS_BELOW} events"
    return f"Fewer than {UNSTABLE_BELOW} cases"


def _scaled(value, multiplier: float):
    number = as_number(value)
    return None if number is None else number * multiplier


def _decimals(formats: list[str], decimals: int) -> dict[int, int]:
    return {i: decimals for i, f in enumerate(formats) if f == "rate"}


def _monthly_table(table: pd.DataFrame, by: str, control: bool) -> ExportTable:
    word, rate_unit, diff_unit, scale = _units(table.attrs)
    m, d = scale.multiplier, scale.decimals + 2
    kind = table.attrs.get("kind") or "proportion"
    with_events = kind in ("proportion", "rate")  # a rate's events are counted too
    headers = [stratifier_label(by), "Month", "Cases"]
    formats = ["text", "text", "count"]
    if with_events:
        headers.append("Met the measure" if table.attrs.get("higher_is_better", True)
                       and kind == "proportion" else "Events")
        formats.append("count")
    if control:
        headers += [_header(word, rate_unit), "Centre line", "Lower control limit",
                    "Upper control limit", "Beyond a limit", "Part of a shift", "Chart",
                    "Suppressed"]
        formats += ["rate"] * 4 + ["text"] * 4
    else:
        headers += [_header(word, rate_unit), "95 % CI lower", "95 % CI upper",
                    _header("Difference from reference", diff_unit),
                    "Difference 95 % CI lower", "Difference 95 % CI upper", "p-value",
                    "Flagged", "Suppressed", _unstable_header(kind)]
        formats += ["rate"] * 6 + ["p"] + ["text"] * 3
    rows = []
    for record in table.to_dict("records"):
        row = [str(record[by]), str(record["period"]), _count(record["denominator"])]
        if with_events:
            row.append(_count(record["numerator"]))
        if control:
            row += [_num(_scaled(record.get(c), m), d)
                    for c in ("rate", "centre", "lower_limit", "upper_limit")]
            row += [_yes(record.get("beyond_limits")), _yes(record.get("shift")),
                    str(record.get("chart") or ""), _yes(record["suppressed"])]
        else:
            row += [_num(_scaled(record.get(c), m), d)
                    for c in ("rate", "rate_lower", "rate_upper", "difference",
                              "difference_lower", "difference_upper")]
            row += [_p(record.get("p_value")), _yes(record.get("flagged")),
                    _yes(record["suppressed"]), _yes(record.get("unstable"))]
        rows.append(row)
    return ExportTable(headers, rows, formats, _decimals(formats, scale.decimals))


def _gaps_table(table: pd.DataFrame) -> ExportTable:
    headers = ["Rank", "Measure", "Measure id", "Stratifier", "Group", "Reference group",
               "Cases", "Met the measure or events", "Unit", "Rate", "Reference rate",
               "Difference from reference", "Difference 95 % CI lower",
               "Difference 95 % CI upper", "p-value", "Relative difference, adverse (%)",
               "Excess events (patients)", "Trend (last 6 months vs 6 before)",
               "Fewer than 30 cases"]
    formats = ["count", "text", "text", "text", "text", "text", "count", "count", "text",
               "rate", "rate", "rate", "rate", "rate", "p", "rate", "rate", "text", "text"]
    rows = []
    for rank, record in enumerate(table.to_dict("records"), start=1):
        scale = rate_scale("proportion", record.get("unit") or "%")
        m, d = scale.multiplier, scale.decimals + 2
        rows.append([
            rank, str(record["measure_name"]), str(record["measure_id"]),
            stratifier_label(str(record["stratifier"])), str(record["group"]),
            str(record["reference_group"]), _count(record["denominator"]),
            _count(record["numerator"]), "%" if scale.percent else scale.axis,
            _num(_scaled(record["rate"], m), d), _num(_scaled(record["reference_rate"], m), d),
            _num(_scaled(record["difference"], m), d),
            _num(_scaled(record["difference_lower"], m), d),
            _num(_scaled(record["difference_upper"], m), d), _p(record["p_value"]),
            _num(_scaled(record["relative_difference"], 100), 2),
            _num(record["excess_events"], 1), str(record["trend"]), _yes(record["unstable"]),
        ])
    return ExportTable(headers, rows, formats, {i: 1 for i, f in enumerate(formats)
                                                if f == "rate"})


def _completeness_table(table: pd.DataFrame, by: str) -> ExportTable:
    headers = [stratifier_label(by), "Patients seen", "With a known value",
               "Known (%)", "Meets target", "Hidden (small numbers)"]
    formats = ["text", "count", "count", "rate", "text", "text"]
    target = float(table.attrs.get("target_percent", 0))
    rows = []
    for record in table.to_dict("records"):
        hidden = bool(record["suppressed"])
        percent = None if hidden else 100 * float(record["rate"])
        rows.append([str(record[by]), _count(record["denominator"]),
                     _count(record["numerator"]), _num(percent, 1),
                     "" if hidden else ("yes" if percent >= target else "no"),
                     _yes(hidden)])
    return ExportTable(headers, rows, formats, {3: 1})


def _phases_table(table: pd.DataFrame) -> ExportTable:
    headers = ["Phase", "Done (%)", "Items done", "Items"]
    formats = ["text", "rate", "count", "count"]
    rows = [[str(r["phase"]), _num(r["percent"], 1), _count(r["items_done"]),
             _count(r["items"])] for r in table.to_dict("records")]
    return ExportTable(headers, rows, formats, {1: 0})


def changes_table(rendered: Rendered) -> ExportTable | None:
    """The "since last time" table, when the view asked for it and a snapshot exists."""
    changes = rendered.changes
    if changes is None:
        return None
    family = changes.attrs.get("family")
    if family == "phases":
        headers = ["Phase", "Done then (%)", "Done now (%)", "Change"]
        rows = [[str(r["group"]), _num(_scaled(r["rate_then"], 100), 1),
                 _num(_scaled(r["rate_now"], 100), 1), str(r["status"])]
                for r in changes.to_dict("records")]
        return ExportTable(headers, rows, ["text", "rate", "rate", "text"], {1: 0, 2: 0})
    word, rate_unit, diff_unit, scale = _units(changes.attrs)
    m, d = scale.multiplier, scale.decimals + 2
    headers = ["Measure id", "Stratifier", "Group", _header(f"{word} then", rate_unit),
               _header(f"{word} now", rate_unit),
               _header("Difference from reference then", diff_unit),
               _header("Difference from reference now", diff_unit),
               _header("Change in difference", diff_unit), "Flagged then", "Flagged now",
               "Suppressed then", "Suppressed now", "Since last time"]
    formats = ["text"] * 3 + ["rate"] * 5 + ["text"] * 5
    rows = []
    for r in changes.to_dict("records"):
        strat = " \u00d7 ".join(stratifier_label(s) for s in str(r["stratifier"]).split("|"))
        rows.append([str(r["measure_id"] or ""), strat, str(r["group"]),
                     *[_num(_scaled(r[c], m), d) for c in
                       ("rate_then", "rate_now", "difference_then", "difference_now",
                        "change")],
                     _yes(r["flagged_then"]), _yes(r["flagged_now"]),
                     _yes(r["suppressed_then"]), _yes(r["suppressed_now"]), str(r["status"])])
    return ExportTable(headers, rows, formats, _decimals(formats, scale.decimals))


def _preamble(rendered: Rendered) -> list[list]:
    lines = [[PRODUCER + " export"], ["Title", rendered.context.title]]
    if rendered.context.subtitle:
        lines.append(["Subtitle", rendered.context.subtitle])
    lines += [[label, text] for label, text in rendered.context.items]
    if rendered.summary:
        lines.append(["In words", rendered.summary])
    return lines


def _notes(rendered: Rendered) -> list[list]:
    notes = [["Suppression", SUPPRESSION_RULE], ["Flag rule", FLAG_RULE],
             ["Methods", METHODS_NOTE]]
    notes += [["Chart note", caption] for caption in rendered.captions]
    return notes


# --- CSV ----------------------------------------------------------------------------------

def to_csv(rendered: Rendered) -> bytes:
    """The view as CSV (UTF-8 with a byte-order mark, so spreadsheets read the accents):
    context rows, a blank row, the table, a blank row, the rules and footnote."""
    table = export_table(rendered)
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")

    def write(row):
        writer.writerow([_csv_cell(value) for value in row])

    for row in _preamble(rendered):
        write(row)
    write([])
    write(table.headers)
    for row in table.rows:
        write(row)
    changes = changes_table(rendered)
    if changes is not None:
        write([])
        write([changes_heading(rendered.changes)])
        write(changes.headers)
        for row in changes.rows:
            write(row)
    write([])
    for row in _notes(rendered):
        write(row)
    return buffer.getvalue().encode("utf-8-sig")


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return neutralise(_plain(str(value)))


def _plain(text: str) -> str:
    return text.replace("\x00", "")


# --- XLSX ---------------------------------------------------------------------------------

_NUMBER_FORMATS = {"count": "#,##0", "ratio": "0.00", "p": "0.0000"}


def to_xlsx(rendered: Rendered) -> bytes:
    """The view as an Excel workbook: sheet "Table" (context, table, rules), "Since last time"
    when asked for, and "Methods"."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    table = export_table(rendered)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Table"
    bold = Font(bold=True)
    sheet.append([_xlsx_cell(rendered.context.title)])
    sheet["A1"].font = Font(bold=True, size=14)
    for row in _preamble(rendered)[1:]:
        _append(sheet, row)
        sheet.cell(sheet.max_row, 1).font = bold
    sheet.append([])
    _write_table(sheet, table, bold, PatternFill("solid", fgColor="DDE6F0"))
    sheet.append([])
    for row in _notes(rendered):
        _append(sheet, row)
        sheet.cell(sheet.max_row, 1).font = bold
    _widths(sheet, table)

    changes = changes_table(rendered)
    if changes is not None:
        extra = workbook.create_sheet("Since last time")
        extra.append([_xlsx_cell(changes_heading(rendered.changes))])
        extra["A1"].font = Font(bold=True, size=12)
        extra.append([])
        _write_table(extra, changes, bold, PatternFill("solid", fgColor="DDE6F0"))
        _widths(extra, changes)

    methods = workbook.create_sheet("Methods")
    for label, text in (("Suppression", SUPPRESSION_RULE), ("Flag rule", FLAG_RULE),
                        ("Methods", METHODS_NOTE)):
        _append(methods, [label, text])
        methods.cell(methods.max_row, 1).font = bold
        methods.cell(methods.max_row, 2).alignment = Alignment(wrap_text=True,
                                                               vertical="top")
    methods.column_dimensions["A"].width = 14
    methods.column_dimensions["B"].width = 110

    props = workbook.properties
    props.title = _plain(rendered.context.title)[:250]
    props.creator = PRODUCER
    props.description = "; ".join(rendered.context.lines())[:2000]
    props.created = rendered.generated_at.replace(tzinfo=None)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(value):
    """A cell value for openpyxl: text neutralised and stripped of the control characters
    XLSX cannot hold; numbers unchanged."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else value
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def _append(sheet, row: list) -> None:
    sheet.append([_xlsx_cell(v) for v in row])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"  # text is text: never a formula


def _write_table(sheet, table: ExportTable, bold, fill) -> None:
    _append(sheet, table.headers)
    for cell in sheet[sheet.max_row]:
        cell.font = bold
        cell.fill = fill
    for row in table.rows:
        _append(sheet, row)
        for index, cell in enumerate(sheet[sheet.max_row]):
            if index >= len(table.formats) or not isinstance(cell.value, (int, float)):
                continue
            fmt = table.formats[index]
            if fmt == "rate":
                places = table.decimals.get(index, 1)
                cell.number_format = "0" + ("." + "0" * places if places else "")
            elif fmt in _NUMBER_FORMATS:
                cell.number_format = _NUMBER_FORMATS[fmt]


def _widths(sheet, table: ExportTable) -> None:
    from openpyxl.utils import get_column_letter

    for index, header in enumerate(table.headers, start=1):
        values = [len(str(row[index - 1])) for row in table.rows if row[index - 1] is not None]
        width = max([len(header), *values, 8])
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, 42)
    if sheet.column_dimensions["A"].width < 22:
        sheet.column_dimensions["A"].width = 22



# --- a listing: any table of text, with a title and context rows ---------------------------

def listing_to_csv(title: str, items: list[tuple[str, str]], headers: list[str],
                   rows: list[list]) -> bytes:
    """A listing that is not a view of the data (e.g. the clinical-algorithm inventory) as
    CSV, with the same cell rules as a view's table: the title and `label,value` context
    rows, a blank row, the table."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    for row in [[PRODUCER + " export"], ["Title", title], *items, [], headers, *rows]:
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


def listing_to_xlsx(title: str, items: list[tuple[str, str]], headers: list[str],
                    rows: list[list]) -> bytes:
    """The same listing as an Excel workbook (one sheet, "Table"), laid out as a view's."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    table = ExportTable(list(headers), [list(row) for row in rows], ["text"] * len(headers))
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Table"
    sheet.append([_xlsx_cell(title)])
    sheet["A1"].font = Font(bold=True, size=14)
    for row in items:
        _append(sheet, list(row))
        sheet.cell(sheet.max_row, 1).font = Font(bold=True)
    sheet.append([])
    _write_table(sheet, table, Font(bold=True), PatternFill("solid", fgColor="DDE6F0"))
    _widths(sheet, table)
    workbook.properties.title = _plain(title)[:250]
    workbook.properties.creator = PRODUCER
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
