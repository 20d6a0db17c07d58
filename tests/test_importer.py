"""The importer: the data contract enforced, all or nothing, on SQLite and PostgreSQL."""
from __future__ import annotations

import csv

import pytest
from sqlalchemy import select

from store import import_extract, status
from store.engine import get_engine
from store.importer import DEFAULT_MEASURES
from store.schema import import_batches, patients, results

with open(DEFAULT_MEASURES, encoding="utf-8", newline="") as _catalog:
    SHIPPED_MEASURES = sum(1 for _ in csv.DictReader(_catalog))  # the shipped catalog's size

PATIENT_HEADER = ["patient_id", "birth_year", "sex", "race", "ethnicity", "preferred_language",
                  "interpreter_needed", "payer", "adi_decile"]
RESULT_HEADER = ["patient_id", "measure_id", "period", "site", "numerator", "denominator",
                 "value"]

GOOD_PATIENTS = [
    ["P1", "1950", "female", "White", "Not Hispanic or Latino", "English", "no", "Medicare", "3"],
    ["P2", "1980", "MALE", "2054-5", "2135-2", "Spanish", "Y", "medicaid", ""],
    ["P3", "", "unknown", "", "ASKU", "", "", "Commercial", "10"],
    ["P4", "1975", "Other", "UNK", "unk", "Vietnamese", "1", "Uninsured", "7"],
    ["P, 5", "2001", "female", "Two or more races", "Not Hispanic or Latino", "English", "false",
     "Dual", "1"],
]
GOOD_RESULTS = [
    ["P1", "cbp", "2025-01", "North Clinic", "1", "1", ""],
    ["P2", "cbp", "2025-01", "North Clinic", "0", "1", ""],
    ["P3", "cbp", "2025-02", "South Hospital", "0", "0", ""],
    ["P4", "sbp_mean", "2025-02", "South Hospital", "", "1", "141.5"],
    ["P, 5", "bcs_e", "2025-03", "South Hospital", "1", "1", ""],
]


def write_csv(path, header, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def extract(tmp_path):
    """Writes a patients/results pair; rows may be overridden per test."""
    def make(patient_rows=GOOD_PATIENTS, result_rows=GOOD_RESULTS, *,
             patient_header=PATIENT_HEADER, result_header=RESULT_HEADER, name="extract"):
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        return (write_csv(folder / "patients.csv", patient_header, patient_rows),
                write_csv(folder / "results.csv", result_header, result_rows))
    return make


def table_contents(url):
    with get_engine(url).connect() as conn:
        return {
            "patients": sorted(tuple(row) for row in conn.execute(select(patients))),
            "results": sorted(tuple(row) for row in conn.execute(select(results))),
        }


def patient_rows(url):
    with get_engine(url).connect() as conn:
        query = select(patients).order_by(patients.c.patient_key)
        return {row.patient_id: row._asdict() for row in conn.execute(query)}


def test_valid_extract_is_stored_with_canonical_labels(database_url, extract):
    summary = import_extract(*extract(), database_url=database_url)
    assert (summary.patients, summary.results) == (5, 5)
    stored = patient_rows(database_url)
    assert stored["P1"]["sex"] == "Female" and stored["P1"]["race"] == "White"
    assert stored["P2"]["race"] == "Black or African American"  # CDC code mapped
    assert stored["P2"]["ethnicity"] == "Hispanic or Latino"
    assert stored["P2"]["payer"] == "Medicaid" and stored["P2"]["interpreter_needed"] == "Yes"
    assert stored["P2"]["adi_decile"] is None
    # Empty stays missing; null flavors become their own labels, never merged with missing.
    assert stored["P3"]["race"] is None and stored["P3"]["birth_year"] is None
    assert stored["P3"]["ethnicity"] == "Asked but no answer"
    assert stored["P3"]["preferred_language"] is None
    assert stored["P4"]["race"] == "Unknown" and stored["P4"]["ethnicity"] == "Unknown"
    assert stored["P, 5"]["race"] == "Multiracial"  # quoted field with a comma

    with get_engine(database_url).connect() as conn:
        mean_row = conn.execute(
            select(results).where(results.c.measure_id == "sbp_mean")).one()
        excluded = conn.execute(
            select(results.c.denominator).where(results.c.period == "2025-02",
                                                results.c.measure_id == "cbp")).scalar_one()
    assert mean_row.value == pytest.approx(141.5) and mean_row.numerator == 0
    assert excluded == 0


def test_status_reports_counts_and_the_batch_with_checksums(database_url, extract):
    import hashlib

    patients_csv, results_csv = extract()
    import_extract(patients_csv, results_csv, database_url=database_url)
    report = status(database_url)
    assert (report["patients"], report["results"], report["measures"]) == (5, 5,
                                                                           SHIPPED_MEASURES)
    assert report["periods"] == {"first": "2025-01", "last": "2025-03"}
    batch = report["last_import"]
    assert batch["outcome"] == "succeeded" and batch["source"] == "import"
    files = {f["role"]: f for f in batch["files"]}
    assert files["patients"]["rows"] == 5 and files["results"]["rows"] == 5
    assert files["patients"]["sha256"] == hashlib.sha256(patients_csv.read_bytes()).hexdigest()


def test_reimport_replaces_rather_than_appends(database_url, extract):
    import_extract(*extract(), database_url=database_url)
    first = table_contents(database_url)
    import_extract(*extract(), database_url=database_url)
    assert table_contents(database_url) == first
    with get_engine(database_url).connect() as conn:
        assert len(conn.execute(select(import_batches)).all()) == 2

    # A smaller extract replaces everything: no patient of the old one survives.
    import_extract(*extract(GOOD_PATIENTS[:1], GOOD_RESULTS[:1], name="small"),
                   database_url=database_url)
    assert list(patient_rows(database_url)) == ["P1"]


def test_sqlite_foreign_keys_are_checked_again_after_an_import(sqlite_url, extract):
    """The import writes without SQLite's key checks (it has looked every key up itself): the
    connection it used goes back to the pool with them on, whether the import succeeded or
    was refused, so the app's own writes are checked again."""
    from store import ImportRefused

    engine = get_engine(sqlite_url)
    engine.dispose()
    import_extract(*extract(), database_url=sqlite_url)
    orphan = extract(GOOD_PATIENTS, GOOD_RESULTS + [["P99", "cbp", "2025-01", "X", "1", "1", ""]],
                     name="orphan")
    with pytest.raises(ImportRefused):
        import_extract(*orphan, database_url=sqlite_url)
    pooled = [engine.connect() for _ in range(engine.pool.checkedin())]  # each of them
    assert pooled
    for conn in pooled:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    for conn in pooled:
        conn.close()
    with engine.connect() as conn, pytest.raises(Exception, match="FOREIGN KEY"):
        conn.exec_driver_sql("INSERT INTO results (patient_key, measure_id, period, site, "
                             "numerator, denominator) VALUES (999, 'cbp', '2025-01', 'X', 1, 1)")


def test_value_map_translates_local_codes_case_insensitively(database_url, extract, tmp_path):
    rows = [["P1", "1950", "f", "blk", "HISP", "SPA", "yes", "mcd", ""]]
    value_map = write_csv(tmp_path / "map.csv", ["column", "local_value", "standard_value"], [
        ["race", "BLK", "Black or African American"],
        ["ethnicity", "hisp", "Hispanic or Latino"],
        ["sex", "F", "female"],
        ["preferred_language", "spa", "Spanish"],
        ["payer", "MCD", "Medicaid"],
        ["site", "NC", "North Clinic"],
    ])
    files = extract(rows, [["P1", "cbp", "2025-01", "nc", "1", "1", ""]])
    import_extract(*files, value_map_csv=value_map, database_url=database_url)
    stored = patient_rows(database_url)["P1"]
    assert (stored["race"], stored["ethnicity"], stored["sex"], stored["preferred_language"],
            stored["payer"]) == ("Black or African American", "Hispanic or Latino", "Female",
                                 "Spanish", "Medicaid")
    with get_engine(database_url).connect() as conn:
        assert conn.execute(select(results.c.site)).scalar_one() == "North Clinic"


def test_bom_and_crlf_and_blank_lines_are_accepted(database_url, tmp_path):
    text = "\r\n".join([",".join(PATIENT_HEADER)] + [",".join(GOOD_PATIENTS[0])] + ["", ""])
    patients_csv = tmp_path / "patients.csv"
    patients_csv.write_bytes(b"\xef\xbb\xbf" + text.encode())
    results_csv = write_csv(tmp_path / "results.csv", RESULT_HEADER, GOOD_RESULTS[:1])
    summary = import_extract(patients_csv, results_csv, database_url=database_url)
    assert summary.patients == 1


def test_unknown_extra_columns_are_listed_and_ignored(sqlite_url, extract):
    header = PATIENT_HEADER + ["mrn"]
    files = extract([row + ["123"] for row in GOOD_PATIENTS], patient_header=header)
    summary = import_extract(*files, database_url=sqlite_url)
    assert summary.patients == 5
    assert summary.warnings == ["patients.csv: ignored unknown column mrn"]


def test_chunked_reading_gives_the_same_data(sqlite_url, tmp_path, extract):
    files = extract()
    import_extract(*files, database_url=sqlite_url, chunk_rows=100_000)
    whole = table_contents(sqlite_url)
    import_extract(*files, database_url=sqlite_url, chunk_rows=2)
    assert table_contents(sqlite_url) == whole


def test_chunks_never_exceed_the_chunk_size(tmp_path):
    from store.csvfile import FileInfo, read_chunks
    from store.problems import Problems

    rows = [[f"P{i}", "1970", "female", "", "", "", "", "", ""] for i in range(1_001)]
    path = write_csv(tmp_path / "patients.csv", PATIENT_HEADER, rows)
    sizes = [len(frame) for frame, _ in read_chunks(FileInfo("patients", path), ("patient_id",),
                                                    tuple(PATIENT_HEADER[1:]), Problems(),
                                                    chunk_rows=100)]
    assert max(sizes) == 100 and sum(sizes) == 1_001


def test_readers_see_the_old_data_until_the_import_commits(database_url, extract, monkeypatch):
    import store.importer as importer

    import_extract(*extract(), database_url=database_url)
    seen_during_import = []
    original = importer._load_results

    def spy(*args, **kwargs):
        with get_engine(database_url).connect() as reader:
            seen_during_import.append(sorted(
                reader.execute(select(patients.c.patient_id)).scalars()))
        return original(*args, **kwargs)

    monkeypatch.setattr(importer, "_load_results", spy)
    import_extract(*extract(GOOD_PATIENTS[:1], GOOD_RESULTS[:1], name="new"),
                   database_url=database_url)
    assert seen_during_import == [sorted(row[0] for row in GOOD_PATIENTS)]
    assert list(patient_rows(database_url)) == ["P1"]
