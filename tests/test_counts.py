"""The count table (metrics.counts) against a GROUP BY over the raw rows, on SQLite and
PostgreSQL: any measure, stratifier(s), filters and period range give the same counts; an
import rebuilds it in its transaction; a database without it gets it built on first use."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, insert, select, text

import metrics
from metrics import counts
from metrics.aggregate import COUNT_COLUMNS, group_counts, groups_present, raw_group_counts
from metrics.strata import STRATIFIERS
from store import import_extract
from store.engine import get_engine
from store.schema import import_batches, metadata, results
from tests import independent

STRATIFIER_NAMES = sorted(STRATIFIERS)
MEASURES = ["cbp", "gsd_poor", "bcs_e", "col_e", "readmit_30d", "ed_analgesia", "sdoh_screen",
            "interpreter_use", "falls_injury", "ppc_timely", "sbp_mean", "adverse_drug_events",
            "complaints", None]


@pytest.fixture(scope="module")
def cases(sample_extract):
    return independent.raw_cases(sample_extract)


@pytest.fixture(params=["sqlite", "postgres"])
def sample_url(request):
    return request.getfixturevalue(f"sample_{request.param}")


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Same columns in the same order, same dtypes, same groups; counts exactly equal, sums
    of values equal up to the order of floating-point addition."""
    assert list(got.columns) == list(expected.columns)
    assert list(got.dtypes) == list(expected.dtypes)
    keys = [c for c in got.columns if c not in COUNT_COLUMNS]
    got = got.sort_values(keys).reset_index(drop=True)
    expected = expected.sort_values(keys).reset_index(drop=True)
    assert got[keys].equals(expected[keys])
    for column in ("denominator", "numerator"):
        assert (got[column] == expected[column]).all(), column
    for column in ("value_sum", "value_sum_squares", "exposure"):
        assert np.allclose(got[column], expected[column], rtol=1e-12, equal_nan=True), column


def draw_request(data, cases):
    measure_id = data.draw(st.sampled_from(MEASURES), label="measure")
    by = data.draw(st.lists(st.sampled_from(STRATIFIER_NAMES), min_size=1, max_size=2,
                            unique=True), label="by")
    filtered = data.draw(st.lists(st.sampled_from(STRATIFIER_NAMES), max_size=2, unique=True),
                         label="filtered")
    where = {}
    for name in filtered:
        values = sorted(cases[name].astype(str).unique())
        where[name] = data.draw(st.lists(st.sampled_from(values + ["no such group"]),
                                         min_size=1, max_size=3, unique=True), label=name)
    months = sorted(cases["period"].unique())
    start = data.draw(st.sampled_from([None, *months]), label="from")
    end = data.draw(st.sampled_from([None, *months]), label="to")
    return measure_id, by, where or None, start, end


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_counts_equal_a_group_by_over_the_raw_rows(data, sample_url, cases):
    request = draw_request(data, cases)
    assert_same(group_counts(*request, database_url=sample_url),
                raw_group_counts(*request, database_url=sample_url))


def test_the_count_table_is_much_smaller_than_the_raw_rows_and_holds_every_case(sample_url,
                                                                                 cases):
    with get_engine(sample_url).connect() as conn:
        raw = conn.execute(select(func.count()).select_from(results)).scalar_one()
        cells, cased = conn.execute(select(func.count(), func.sum(
            counts.result_counts.c.denominator))).one()
    assert cased == len(cases)  # every counted case, once
    assert cells < raw


@pytest.mark.parametrize("name", STRATIFIER_NAMES)
def test_groups_present_are_those_of_the_raw_rows(sample_sqlite, cases, name):
    shown = groups_present(name, database_url=sample_sqlite)
    assert sorted(shown) == sorted(cases[name].astype(str).unique())
    assert shown == sorted(shown, key=STRATIFIERS[name].sort_key)


@pytest.mark.parametrize("by", [[name] for name in STRATIFIER_NAMES]
                         + [[name, "period"] for name in STRATIFIER_NAMES if name != "period"]
                         + [["period", "race"]])
def test_requests_without_filters_read_the_margins_and_equal_the_raw_rows(sample_url, by):
    from metrics.aggregate import margin_query

    assert margin_query(None, by) is not None
    for measure_id, start, end in ((None, None, None), ("cbp", "2025-03", "2025-11"),
                                   ("sbp_mean", None, "2025-06"), ("no_such", None, None)):
        assert_same(group_counts(measure_id, by, None, start, end, database_url=sample_url),
                    raw_group_counts(measure_id, by, None, start, end,
                                     database_url=sample_url))
    # Filters, or two stratifiers crossed, are the count table's.
    assert margin_query("cbp", by, {"sex": "Male"}) is None
    assert margin_query("cbp", by, {"sex": []}) is None
    assert margin_query("cbp", ["race", "payer"]) is None


def raw_measures(url) -> pd.DataFrame:
    """Each measure's counted cases and first and last month, from the raw rows."""
    with get_engine(url).connect() as conn:
        frame = pd.read_sql(select(results.c.measure_id, func.sum(results.c.denominator)
                                   .label("cases"), func.min(results.c.period)
                                   .label("first_period"), func.max(results.c.period)
                                   .label("last_period")).group_by(results.c.measure_id), conn)
    return frame.sort_values("measure_id", ignore_index=True)


def loaded_measures(url) -> pd.DataFrame:
    from store import measures_loaded

    frame = pd.DataFrame(measures_loaded(url))
    frame = frame[frame["cases"] > 0][["measure_id", "cases", "first_period", "last_period"]]
    return frame.sort_values("measure_id", ignore_index=True)


def test_measures_loaded_equal_a_group_by_over_the_raw_rows(sample_url):
    from store import status
    from store.schema import patients

    expected = raw_measures(sample_url)
    assert loaded_measures(sample_url).astype(str).equals(expected.astype(str))
    with get_engine(sample_url).connect() as conn:
        rows = {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in (("patients", patients), ("results", results))}
    assert {name: status(sample_url)[name] for name in rows} == rows
    assert status(sample_url)["periods"] == {"first": expected["first_period"].min(),
                                             "last": expected["last_period"].max()}


def test_one_label_definition_compiles_both_paths():
    # The count table has a column per stratifier, named by the stratifier itself.
    for definition in STRATIFIERS.values():
        assert definition.column in counts.result_counts.c


# --- kept current -----------------------------------------------------------------------

@pytest.fixture
def small_extract(tmp_path):
    from sample_data.generator import generate

    return {size: generate(tmp_path / str(size), patients=size, seed=size)
            for size in (600, 900)}


def load(extract, url):
    return import_extract(extract["patients"], extract["results"],
                          value_map_csv=extract["value_map"], database_url=url)


def test_an_import_rebuilds_the_counts_in_its_transaction(database_url, small_extract):
    for size in (600, 900, 600):
        summary = load(small_extract[size], database_url)
        with get_engine(database_url).connect() as conn:
            state = conn.execute(select(counts.result_counts_state)).one()
            assert counts.current(conn)
        assert state.batch_id == summary.batch_id
        assert_same(group_counts(None, "race", database_url=database_url),
                    raw_group_counts(None, "race", database_url=database_url))


def test_a_refused_import_leaves_the_counts_as_they_were(database_url, small_extract,
                                                         tmp_path):
    from store import ImportRefused

    load(small_extract[600], database_url)
    before = group_counts(None, ["site", "sex"], database_url=database_url)
    broken = tmp_path / "broken.csv"
    broken.write_text(small_extract[900]["results"].read_text() + "nobody,cbp,2025-01,X,1,1,\n")
    with pytest.raises(ImportRefused):
        import_extract(small_extract[900]["patients"], broken, database_url=database_url)
    assert_same(group_counts(None, ["site", "sex"], database_url=database_url), before)


def test_a_new_import_changes_the_summaries_the_overview_reads(database_url, small_extract):
    from store import status

    seen = []
    for size in (600, 900):
        load(small_extract[size], database_url)
        gaps = metrics.largest_gaps(database_url=database_url)
        loaded = loaded_measures(database_url)
        assert loaded.astype(str).equals(raw_measures(database_url).astype(str))
        assert_same(group_counts(None, ["payer", "period"], database_url=database_url),
                    raw_group_counts(None, ["payer", "period"], database_url=database_url))
        assert status(database_url)["periods"]["first"] == loaded["first_period"].min()
        seen.append((gaps, loaded))
    assert not seen[0][1].equals(seen[1][1])
    assert not seen[0][0].equals(seen[1][0])


def count_table_indexes(conn) -> dict[str, str]:
    """The count table's indexes on PostgreSQL, by name: their definitions."""
    return dict(conn.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'result_counts' "
        "AND schemaname = current_schema()")).all())


def test_postgresql_count_table_has_a_narrow_index_not_the_wide_key(database_url,
                                                                    small_extract):
    """On PostgreSQL the count table is read through an index on measure and month (the
    eleven-column key doubled the pages a request read); a table made with that key by an
    earlier version gets the narrow index at the next import, and the counts stay equal to
    the raw rows' either way."""
    if not database_url.startswith("postgresql"):
        with get_engine(database_url).connect() as conn:
            # SQLite keeps the key: the table is stored in its order (WITHOUT ROWID).
            metadata.create_all(conn, tables=[counts.result_counts])
            assert conn.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = 'result_counts'")).scalar_one() \
                .rstrip().endswith("WITHOUT ROWID")
        return
    from store.counts import LABELLED, SERVER_INDEX

    load(small_extract[600], database_url)
    engine = get_engine(database_url)
    with engine.begin() as conn:
        assert list(count_table_indexes(conn)) == [SERVER_INDEX]
        assert "(measure_id, period)" in count_table_indexes(conn)[SERVER_INDEX]
        # As an earlier version made it: the wide key, no narrow index.
        conn.execute(text(f"DROP INDEX {SERVER_INDEX}"))
        conn.execute(text(
            "ALTER TABLE result_counts ADD CONSTRAINT pk_result_counts PRIMARY KEY "
            f"({', '.join(['measure_id', 'period', 'site', *LABELLED])})"))
    load(small_extract[900], database_url)
    with engine.connect() as conn:
        assert list(count_table_indexes(conn)) == [SERVER_INDEX]
    assert_same(group_counts(None, ["race", "site"], database_url=database_url),
                raw_group_counts(None, ["race", "site"], database_url=database_url))


def test_tables_of_an_earlier_layout_are_rebuilt_on_first_use(database_url, small_extract):
    load(small_extract[900], database_url)
    engine = get_engine(database_url)
    with engine.begin() as conn:  # as an earlier version left them: no summaries
        conn.execute(delete(counts.result_margins))
        conn.execute(text("UPDATE result_counts_state SET id = 1"))
        assert not counts.current(conn)
    assert_same(group_counts(None, "race", database_url=database_url),
                raw_group_counts(None, "race", database_url=database_url))
    with engine.connect() as conn:
        assert counts.current(conn)


def test_the_overview_summaries_stand_in_for_the_live_queries(database_url, small_extract,
                                                               monkeypatch):
    # The status falls back to the raw rows while the summaries are not current.
    from metrics import aggregate
    from store import counts as store_counts
    from store import status
    from tracker import race_ethnicity_recorded

    load(small_extract[900], database_url)
    summarised = metrics.largest_gaps(database_url=database_url), status(database_url)
    loaded = loaded_measures(database_url)
    recorded = race_ethnicity_recorded(database_url)
    monkeypatch.setattr(aggregate, "margin_query", lambda *args: None)
    with get_engine(database_url).begin() as conn:
        conn.execute(delete(store_counts.result_measures))
        conn.execute(text("UPDATE result_counts_state SET batch_id = batch_id - 1"))
    live = loaded_measures(database_url), status(database_url)
    assert race_ethnicity_recorded(database_url) == pytest.approx(recorded, rel=1e-15)
    assert 0 < recorded < 1
    assert live[0].astype(str).equals(loaded.astype(str))
    assert live[1]["periods"] == summarised[1]["periods"]
    gaps = metrics.largest_gaps(database_url=database_url)  # the count table, rebuilt
    assert len(gaps) > 0
    pd.testing.assert_frame_equal(gaps, summarised[0], check_exact=False, rtol=1e-12)


def test_a_database_made_before_the_count_table_gets_it_built(database_url, small_extract):
    load(small_extract[900], database_url)
    engine = get_engine(database_url)
    metadata.drop_all(engine, tables=[counts.result_counts_state, counts.result_groups,
                                      counts.result_counts])
    expected = raw_group_counts("cbp", ["race", "age_group"], {"sex": "Female"},
                                database_url=database_url)
    assert expected["denominator"].sum() > 0
    assert_same(group_counts("cbp", ["race", "age_group"], {"sex": "Female"},
                             database_url=database_url), expected)
    assert groups_present("payer", database_url=database_url)


def test_rows_written_outside_the_importer_are_counted_after_a_refresh(database_url,
                                                                      small_extract):
    load(small_extract[600], database_url)
    engine = get_engine(database_url)
    with engine.begin() as conn:  # an empty table, as if it had never been built
        conn.execute(delete(counts.result_counts_state))
    assert_same(group_counts(None, "payer", database_url=database_url),
                raw_group_counts(None, "payer", database_url=database_url))
    with engine.begin() as conn:
        row = conn.execute(select(results).where(results.c.denominator == 1).limit(1)).one()
        conn.execute(insert(results), [row._asdict()] * 3)
    counts.refresh(database_url)
    assert_same(group_counts(None, "payer", database_url=database_url),
                raw_group_counts(None, "payer", database_url=database_url))
    with engine.begin() as conn:  # a newer import than the one the table was built from
        conn.execute(text("UPDATE result_counts_state SET batch_id = batch_id - 1"))
        assert not counts.current(conn)
    table = metrics.stratify("cbp", "race", database_url=database_url)
    assert table["denominator"].sum() > 0
    with engine.connect() as conn:
        assert counts.current(conn)
        assert conn.execute(select(func.max(import_batches.c.batch_id))).scalar_one() == (
            conn.execute(select(counts.result_counts_state.c.batch_id)).scalar_one())


def test_the_read_path_never_touches_the_raw_rows(sample_sqlite):
    statements = []
    engine = get_engine(sample_sqlite)

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    from sqlalchemy import event

    group_counts("cbp", ["race", "payer"], {"site": ["a", "b"], "sex": "Male"},
                 "2025-01", "2025-12", database_url=sample_sqlite)  # built, if it was not
    event.listen(engine, "before_cursor_execute", record)
    try:
        group_counts("cbp", ["race", "payer"], {"site": ["a", "b"], "sex": "Male"},
                     "2025-01", "2025-12", database_url=sample_sqlite)
        groups_present("race", database_url=sample_sqlite)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements
    for statement in statements:
        assert "FROM results" not in statement and "JOIN patients" not in statement, statement
        assert "'Male'" not in statement  # filter values are bound parameters


def test_an_import_builds_the_counts_without_the_metrics_engine_loaded(sqlite_url,
                                                                      small_extract, tmp_path):
    # `manage.py import` and the sample loader reach the importer without importing metrics:
    # the count table must still be built inside the import, not left to the first request.
    import subprocess
    import sys

    extract = small_extract[600]
    script = (
        "import sys\n"
        "from store import import_extract\n"
        f"import_extract({str(extract['patients'])!r}, {str(extract['results'])!r},"
        f" value_map_csv={str(extract['value_map'])!r}, database_url={sqlite_url!r})\n"
        "assert 'metrics' not in sys.modules, 'the importer loaded the metrics engine'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path.parent,
                   env={"PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1])})
    with get_engine(sqlite_url).connect() as conn:
        assert counts.current(conn)
        assert conn.execute(select(func.count()).select_from(counts.result_counts)
                            ).scalar_one() > 0


# --- the import's counts against the SQL statement ---------------------------------------

def table_rows(url, table) -> pd.DataFrame:
    with get_engine(url).connect() as conn:
        frame = pd.read_sql(select(table), conn)
    keys = [c.name for c in table.primary_key.columns]
    return frame.sort_values(keys).reset_index(drop=True)


def assert_same_cells(url) -> None:
    """The import's count table, result_groups and summaries equal those `counts.refresh`
    builds with its SQL statements (`counts_select`...) over the same raw rows."""
    from store.counts import patient_counts, result_groups, result_margins, result_measures

    tables = (counts.result_counts, result_groups, result_margins, result_measures,
              patient_counts)
    built = [table_rows(url, table) for table in tables]
    cells = counts.refresh(url)
    again = [table_rows(url, table) for table in tables]
    assert cells == len(built[0]) > 0
    keys = [c for c in built[0].columns if c not in COUNT_COLUMNS]
    assert built[0][keys].equals(again[0][keys])
    for column in ("denominator", "numerator"):
        assert (built[0][column] == again[0][column]).all(), column
    for column in ("value_sum", "value_sum_squares", "exposure"):
        assert np.allclose(built[0][column].astype(float), again[0][column].astype(float),
                           rtol=1e-12, equal_nan=True), column
        assert (built[0][column].isna() == again[0][column].isna()).all(), column
    assert built[1].equals(again[1])
    for column in ("denominator", "numerator"):
        assert (built[2][column] == again[2][column]).all(), column
    for column in ("value_sum", "value_sum_squares"):
        assert np.allclose(built[2][column].astype(float), again[2][column].astype(float),
                           rtol=1e-12, equal_nan=True), column
        assert (built[2][column].isna() == again[2][column].isna()).all(), column
    keys = ["stratifier", "measure_id", "period", "label"]
    assert built[2][keys].equals(again[2][keys]) and len(built[2]) > 0
    assert built[3].astype(str).equals(again[3].astype(str)) and len(built[3]) > 0
    assert built[4].astype(str).equals(again[4].astype(str)) and len(built[4]) > 0


def test_the_imports_counts_equal_the_sql_statements_on_the_sample(database_url,
                                                                  small_extract):
    load(small_extract[900], database_url)
    assert_same_cells(database_url)


def test_the_imports_counts_equal_the_sql_statements_at_the_edges(database_url, tmp_path):
    # Ages on every boundary in two calendar years, missing birth years and ADI deciles,
    # empty languages, excluded cases, a mean measure with and without values, and a result
    # for a patient in the catalog order's last measure.
    from tests.test_importer import PATIENT_HEADER, RESULT_HEADER, write_csv

    patients, results_ = [], []
    births = ["", "2008", "2007", "2006", "1981", "1980", "1961", "1960", "1951", "1950",
              "1949", "2030"]
    for number, birth in enumerate(births * 3):
        pid = f"P{number}"
        patients.append([pid, birth, ["female", "male", "", "Unknown"][number % 4],
                         ["2106-3", "", "2054-5", "Asked but no answer"][number % 4],
                         ["", "2186-5", "2135-2"][number % 3], ["", "English", "Tagalog"][
                             number % 3], ["", "Yes", "No"][number % 3],
                         ["Medicaid", "", "Commercial"][number % 3],
                         ["", "1", "10"][number % 3]])
        for period in ("2024-12", "2025-01"):
            results_.append([pid, "cbp", period, ["North", "South"][number % 2],
                             str(number % 2), "1", ""])
            results_.append([pid, "sbp_mean", period, "North", "", str((number + 1) % 2),
                             "" if number % 5 == 0 and number % 2 else str(120 + number)])
    assert PATIENT_HEADER[:3] == ["patient_id", "birth_year", "sex"]
    write_csv(tmp_path / "patients.csv", PATIENT_HEADER, patients)
    write_csv(tmp_path / "results.csv", RESULT_HEADER, results_)
    import_extract(tmp_path / "patients.csv", tmp_path / "results.csv", database_url=database_url)
    assert_same_cells(database_url)
