"""An independent computation of the disparity counts straight from the raw CSV files, with
pandas, sharing nothing with the engine but the contract's vocabulary."""
from __future__ import annotations

import numpy as np
import pandas as pd

from store.vocabulary import ACCEPTED


def raw_cases(extract: dict) -> pd.DataFrame:
    """One row per counted case with every stratifier as the contract defines it."""
    patients = pd.read_csv(extract["patients"], dtype=str, keep_default_na=False)
    results = pd.read_csv(extract["results"], dtype=str, keep_default_na=False)
    value_map = pd.read_csv(extract["value_map"], dtype=str, keep_default_na=False)
    for column, rows in value_map.groupby("column"):
        mapping = dict(zip(rows["local_value"].str.lower(), rows["standard_value"]))
        frame = patients if column in patients else results
        lowered = frame[column].str.strip().str.lower()
        frame[column] = lowered.map(mapping).fillna(frame[column].str.strip())
    for column, accepted in ACCEPTED.items():
        values = patients[column].str.strip()
        patients[column] = values.str.lower().map(accepted).where(values != "", "Missing")
    patients["preferred_language"] = patients["preferred_language"].replace("", "Missing")
    patients["adi_decile"] = patients["adi_decile"].replace("", "Missing")
    cases = results[results["denominator"] == "1"].merge(patients, on="patient_id")
    birth = pd.to_numeric(cases["birth_year"], errors="coerce")
    age = cases["period"].str[:4].astype(int) - birth
    cases["age_group"] = np.select(
        [birth.isna(), age < 18, age < 45, age < 65, age < 75],
        ["Missing", "0-17", "18-44", "45-64", "65-74"], "75+")
    cases["numerator"] = pd.to_numeric(cases["numerator"].replace("", "0"))
    cases["value"] = pd.to_numeric(cases["value"].replace("", np.nan))
    return cases


def counts(cases: pd.DataFrame, measure_id: str, by: list[str], where: dict | None = None,
           period_from: str | None = None, period_to: str | None = None) -> pd.DataFrame:
    chosen = cases[cases["measure_id"] == measure_id]
    for column, wanted in (where or {}).items():
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        chosen = chosen[chosen[column].isin(values)]
    if period_from:
        chosen = chosen[chosen["period"] >= period_from]
    if period_to:
        chosen = chosen[chosen["period"] <= period_to]
    grouped = chosen.groupby(by).agg(denominator=("numerator", "size"),
                                      numerator=("numerator", "sum"),
                                      value_sum=("value", "sum"))
    return grouped.reset_index()
