"""A deterministic, vectorised generator of a synthetic health system's extract.

`generate` writes patients.csv, results.csv, labs.csv and value_map.csv in the data contract
(docs/data-contract.md). The planted effects and defects come from `sample_data.ground_truth`;
the population mix and how often people use care are the parameters below. Both are described
in sample_data/README.md.

Patients are made in blocks of `BLOCK_PATIENTS`, each from its own random stream seeded by
(seed, block number), so the files are byte-identical for the same (patients, seed,
end_period, months) whatever `chunk_patients` is; a chunk only bounds how many patients' rows
are held in memory before they are written.
"""
from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sample_data import ground_truth as gt

BLOCK_PATIENTS = 10_000

# --- population mix (an urban US health system; OMB 1997: ethnicity asked apart from race) ----
HISPANIC_SHARE = {gt.FLAGSHIP: 0.18, gt.NORTHGATE: 0.12, gt.EASTSIDE: 0.22, gt.HARBOR: 0.42,
                  gt.SOUTHVIEW: 0.15, gt.WESTLAKE: 0.16, gt.LINCOLN_PARK: 0.20}
# Race of non-Hispanic patients by home site, in the order of gt.RACES:
#            AIAN   Asian  Black  MENA   NHOPI  White  Multi  Other
RACE_MIX = {
    gt.FLAGSHIP:     (0.005, 0.12, 0.28, 0.02, 0.005, 0.50, 0.03, 0.04),
    gt.NORTHGATE:    (0.010, 0.07, 0.22, 0.02, 0.005, 0.62, 0.03, 0.025),
    gt.EASTSIDE:     (0.005, 0.10, 0.40, 0.04, 0.005, 0.38, 0.03, 0.04),
    gt.HARBOR:       (0.010, 0.12, 0.52, 0.04, 0.010, 0.22, 0.03, 0.05),
    gt.SOUTHVIEW:    (0.010, 0.08, 0.38, 0.02, 0.005, 0.45, 0.03, 0.025),
    gt.WESTLAKE:     (0.005, 0.28, 0.10, 0.03, 0.010, 0.52, 0.03, 0.025),
    gt.LINCOLN_PARK: (0.010, 0.08, 0.40, 0.03, 0.010, 0.40, 0.03, 0.03),
}
# Hispanic patients often answer "some other race" when race is asked on its own (Census 2020).
HISPANIC_RACE_MIX = (0.04, 0.02, 0.06, 0.02, 0.01, 0.35, 0.12, 0.38)

_S = gt.SPANISH_SHARE_AMONG_HISPANIC
# Preferred language by race (non-Hispanic) or Hispanic ethnicity.
LANGUAGE_MIX = {
    gt.HISPANIC: {"English": 1 - _S, "Spanish": _S},
    gt.ASIAN: {"English": 0.60, "Chinese": 0.20, "Vietnamese": 0.12, "Korean": 0.08},
    gt.BLACK: {"English": 0.91, "Haitian Creole": 0.05, "Somali": 0.04},
    gt.WHITE: {"English": 0.94, "Russian": 0.03, "Portuguese": 0.03},
    gt.MENA: {"English": 0.55, "Arabic": 0.45},
    gt.OTHER_RACE: {"English": 0.85, "Spanish": 0.08, "Portuguese": 0.04, "Arabic": 0.03},
    gt.AIAN: {"English": 1.0}, gt.NHOPI: {"English": 1.0}, gt.MULTIRACIAL: {"English": 1.0},
}
SIGN_LANGUAGE_SHARE = 0.001  # deaf patients: American Sign Language, always an interpreter
INTERPRETER_NEED_SHARE = 0.70  # of patients whose preferred language is not English

# Age (at the end period) is drawn independently of race, sex and site, so that the age effect
# on falls cannot masquerade as a race effect: the null finding is a clean one.
AGE_BANDS = ((0, 17, 0.17), (18, 29, 0.14), (30, 44, 0.18), (45, 64, 0.28), (65, 74, 0.13),
             (75, 94, 0.10))
SEX_MIX = (0.52, 0.475, 0.002, 0.003)  # gt.SEXES

# Area deprivation: a latent score from the home site's neighbourhoods and race/ethnicity.
SITE_DEPRIVATION = {gt.FLAGSHIP: 0.0, gt.NORTHGATE: -0.5, gt.EASTSIDE: 0.6, gt.HARBOR: 1.2,
                    gt.SOUTHVIEW: 0.5, gt.WESTLAKE: -1.0, gt.LINCOLN_PARK: 0.6}
RACE_DEPRIVATION = {gt.AIAN: 0.8, gt.ASIAN: -0.3, gt.BLACK: 0.8, gt.MENA: 0.2, gt.NHOPI: 0.5,
                    gt.WHITE: -0.5, gt.MULTIRACIAL: 0.2, gt.OTHER_RACE: 0.4, gt.HISPANIC: 0.7}

# --- clinical conditions and use of care -----------------------------------------------------
HYPERTENSION = ((18, 39, 0.08), (40, 59, 0.32), (60, 200, 0.58))  # prevalence by age
HYPERTENSION_BLACK_FACTOR = 1.3
DIABETES = ((18, 44, 0.04), (45, 64, 0.14), (65, 200, 0.22))
DIABETES_FACTOR = {gt.BLACK: 1.6, gt.HISPANIC: 1.6, gt.AIAN: 1.6, gt.NHOPI: 1.6, gt.ASIAN: 1.3}
ADMISSIONS_PER_YEAR = ((0, 17, 0.05), (18, 44, 0.15), (45, 64, 0.29), (65, 74, 0.46),
                       (75, 200, 0.68))
ED_PAIN_VISITS_PER_YEAR = 0.35
DELIVERIES_PER_YEAR = ((15, 19, 0.03), (20, 34, 0.11), (35, 44, 0.05), (45, 49, 0.005))
INTERPRETER_VISITS_PER_YEAR = 4.5
ESTABLISHED_SHARE = 0.70  # already in care when the extract starts (first seen = first month)
YEARLY_CASE_SHARE = 0.90  # chance an eligible patient has the year's screening/control case

# Kinds of event; each yields one case of each of its measures (same patient, month, site).
# An admission also yields one case of each harm measure (gt.HARM_MEASURES, see `_harm`).
HTN, DM, BCS, COL, ADMISSION, ED, DELIVERY, VISIT = range(8)
KIND_MEASURES = {
    HTN: ("cbp", "sbp_mean"), DM: ("gsd_poor",), BCS: ("bcs_e",), COL: ("col_e",),
    ADMISSION: ("readmit_30d", "sdoh_screen"), ED: ("ed_analgesia",),
    DELIVERY: ("ppc_timely", "smm"), VISIT: ("interpreter_use",),
}
# Age at the case (year of the period minus birth year, as HEDIS and metrics.strata count it).
MEASURE_AGES = {
    "cbp": (18, 85), "sbp_mean": (18, 85), "gsd_poor": (18, 75), "bcs_e": (50, 74),
    "col_e": (45, 75), "ppc_timely": (15, 49), "smm": (15, 49), "readmit_30d": (18, 200),
    "sdoh_screen": (18, 200), "ed_analgesia": (0, 200),
    "interpreter_use": (0, 200),
}
FEMALE_ONLY = ("bcs_e", "ppc_timely", "smm")

PATIENT_COLUMNS = ("patient_id", "birth_year", "sex", "race", "ethnicity", "preferred_language",
                   "interpreter_needed", "payer", "adi_decile")
RESULT_COLUMNS = ("patient_id", "measure_id", "period", "site", "numerator", "denominator",
                  "value", "exposure")
LAB_COLUMNS = ("patient_id", "date", "test", "value", "unit")
# Feed styles: how a patient's race/ethnicity/language reached the extract.
CANONICAL, CDC, CDC_LOWER, LOCAL = range(4)


def generate(out_dir, patients: int = 20000, seed: int = 20240601, end_period: str = "2026-10",
             months: int = 24, chunk_patients: int = 200000) -> dict:
    """Write the synthetic extract to out_dir; return the paths and row counts.

    Returns {"patients": Path, "results": Path, "labs": Path, "value_map": Path,
    "rows": {"patients": n, "results": n, "labs": n, "value_map": n}, "seconds": s}.
    """
    started = time.perf_counter()
    for name, number, low in (("patients", patients, 1), ("months", months, 1),
                              ("chunk_patients", chunk_patients, 1), ("seed", seed, 0)):
        if not isinstance(number, (int, np.integer)) or isinstance(number, bool) or number < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {number!r}")
    model = _Model.build(end_period, months, patients)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / f"{name}.csv" for name in ("patients", "results", "labs",
                                                    "value_map")}
    rows = {"patients": 0, "results": 0, "labs": 0, "value_map": 0}
    labs = _Labs.build(end_period, months)

    # Every token is encoded to UTF-8 once, when the model is built: rows are joined as bytes
    # and written without a text layer, which saves an encoding pass over 10 M rows.
    with open(paths["patients"], "wb") as patient_file, \
            open(paths["results"], "wb") as result_file, \
            open(paths["labs"], "wb") as lab_file:
        lab_file.write((",".join(LAB_COLUMNS) + "\n").encode())
        patient_file.write((",".join(PATIENT_COLUMNS) + "\n").encode())
        result_file.write((",".join(RESULT_COLUMNS) + "\n").encode())
        pending_patients: list[bytes] = []
        pending_results: list[bytes] = []
        held = 0
        for block, first in enumerate(range(0, patients, BLOCK_PATIENTS)):
            count = min(BLOCK_PATIENTS, patients - first)
            rng = np.random.default_rng([seed, block])
            patient_text, result_text, result_rows = _block(rng, first, count, model, labs)
            pending_patients.append(patient_text)
            pending_results.append(result_text)
            rows["patients"] += count
            rows["results"] += result_rows
            held += count
            if held >= chunk_patients:
                patient_file.write(b"".join(pending_patients))
                result_file.write(b"".join(pending_results))
                pending_patients, pending_results, held = [], [], 0
                rows["labs"] += labs.write(lab_file)
        patient_file.write(b"".join(pending_patients))
        result_file.write(b"".join(pending_results))
        rows["labs"] += labs.write(lab_file)

    with open(paths["value_map"], "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("column", "local_value", "standard_value"))
        for column, codes in gt.LOCAL_CODES.items():
            for local, standard in codes.items():
                writer.writerow((column, local, standard))
                rows["value_map"] += 1
    return {**paths, "rows": rows, "seconds": time.perf_counter() - started}


# --- the model, as lookup arrays -------------------------------------------------------------
def _csv_field(text: str) -> str:
    """Quote as the csv module's QUOTE_MINIMAL does."""
    if any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _tokens(texts) -> np.ndarray:
    return np.array([text.encode("utf-8") for text in texts], dtype=object)


def _cumulative(weights) -> np.ndarray:
    cum = np.cumsum(np.asarray(weights, dtype=float), axis=-1)
    cum /= cum[..., -1:]
    cum[..., -1] = 1.0  # no draw may fall past the last category through rounding
    return cum


def _by_age(bands, age: np.ndarray) -> np.ndarray:
    out = np.zeros(age.shape)
    for low, high, value in bands:
        out[(age >= low) & (age <= high)] = value
    return out


@dataclass
class _Model:
    months: int
    end_year: int
    month_year: np.ndarray  # calendar year of each month index
    n_sites: int
    site_cum: np.ndarray
    hispanic_share: np.ndarray
    race_cum: np.ndarray  # (site, race) for non-Hispanic patients
    hispanic_race_cum: np.ndarray
    language_cum: np.ndarray  # (race or Hispanic, language)
    age_cum: np.ndarray
    age_low: np.ndarray
    age_high: np.ndarray
    sex_cum: np.ndarray
    site_deprivation: np.ndarray
    race_deprivation: np.ndarray
    inpatient_site: np.ndarray
    race_blank: np.ndarray  # by site
    cdc_share: np.ndarray  # by site
    local_share: np.ndarray  # by site
    language_gap: np.ndarray  # by first-seen month index: True = not captured
    intervention_from: int  # month index
    # outcome lookups
    measure_ids: tuple[str, ...]
    measure_code: dict[str, int]
    mean_code: int
    kind_measure_codes: dict[int, np.ndarray]
    measure_age_low: np.ndarray
    measure_age_high: np.ndarray
    measure_female_only: np.ndarray
    measure_inpatient: np.ndarray
    excluded_share: np.ndarray
    # patient-file vocabularies: label index -> token index by feed style
    race_tokens: np.ndarray
    race_style: np.ndarray
    ethnicity_tokens: np.ndarray
    ethnicity_style: np.ndarray
    language_tokens: np.ndarray
    language_style: np.ndarray
    simple_tokens: dict[str, np.ndarray]
    birth_year_low: int
    id_format: bytes  # "P%07d," as bytes; wider when there are more patients
    # results: one token per (measure, month, site, outcome) and per (month, site, SBP value)
    result_tokens: np.ndarray
    value_base: int
    harm_prefixes: np.ndarray  # "measure,period,site," by (harm measure, month, site)

    @classmethod
    def build(cls, end_period: str, months: int, patients: int) -> _Model:
        catalog = gt.load_catalog()
        modelled = [m for kind in KIND_MEASURES.values() for m in kind]
        missing = [m for m in (*modelled, *gt.HARM_MEASURES) if m not in catalog]
        if missing:
            raise ValueError(f"measures the generator plants are not in {gt.CATALOG_PATH}: "
                             + ", ".join(missing))
        # Catalog order, so results list measures the way the catalog does; catalog measures
        # the generator does not model simply get no cases.
        measure_ids = tuple(m for m in catalog if m in modelled)
        code = {m: i for i, m in enumerate(measure_ids)}
        means = [m for m in measure_ids if catalog[m]["kind"] == "mean"]
        if means != ["sbp_mean"]:
            raise ValueError(f"expected sbp_mean to be the only mean-type measure, got {means}")

        window = gt.periods(end_period, months)
        end_index = gt.month_index(end_period)
        sites = gt.SITE_NAMES
        site_index = {s: i for i, s in enumerate(sites)}
        race_eth = (*gt.RACES, gt.HISPANIC)
        languages = gt.LANGUAGES

        # Patient-file vocabularies. Label index for race: gt.RACE_LABELS then blank; for
        # ethnicity: gt.ETHNICITY_LABELS then blank; for language: gt.LANGUAGES then blank.
        def styled(labels, cdc_codes, local_codes):
            local_of = {standard: local for local, standard in local_codes.items()}
            table = []
            for style in (CANONICAL, CDC, CDC_LOWER, LOCAL):
                row = []
                for label in (*labels, ""):
                    text = label
                    if style in (CDC, CDC_LOWER) and label:
                        text = cdc_codes.get(label, gt.NULL_FLAVORS.get(label, label))
                        if style == CDC_LOWER and label in gt.NULL_FLAVORS:
                            text = text.lower()
                    elif style == LOCAL and label:
                        text = local_of.get(label, label)
                    row.append(text)
                table.append(row)
            vocabulary = list(dict.fromkeys(text for row in table for text in row))
            tokens = _tokens(_csv_field(t) + "," for t in vocabulary)
            style_index = np.array([[vocabulary.index(t) for t in row] for row in table])
            return tokens, style_index

        race_tokens, race_style = styled(gt.RACE_LABELS, gt.CDC_RACE_CODES,
                                         gt.LOCAL_CODES["race"])
        ethnicity_tokens, ethnicity_style = styled(gt.ETHNICITY_LABELS, gt.CDC_ETHNICITY_CODES,
                                                   gt.LOCAL_CODES["ethnicity"])
        language_tokens, language_style = styled(languages, {},
                                                 gt.LOCAL_CODES["preferred_language"])
        end_year = end_index // 12
        birth_year_low = end_year - AGE_BANDS[-1][1]
        simple_tokens = {
            "birth_year": _tokens(f"{y}," for y in range(birth_year_low, end_year + 1)),
            "sex": _tokens(_csv_field(s) + "," for s in gt.SEXES),
            "interpreter": _tokens(("no,", "yes,")),
            "payer": _tokens(_csv_field(p) + "," for p in gt.PAYERS),
            "adi": _tokens(("\n", *[f"{d}\n" for d in range(1, 11)])),
        }

        # Result tokens: everything after "patient_id," up to the end of the line.
        site_fields = [_csv_field(s) for s in sites]
        outcome_fields = ("0,0,", "0,1,", "1,1,")  # excluded, not met, met
        table = [f"{m},{p},{s},{o},\n" for m in measure_ids for p in window
                 for s in site_fields for o in outcome_fields]
        low, high = gt.SBP_LIMITS
        value_base = len(table)
        table += [f"sbp_mean,{p},{s},0,1,{v},\n" for p in window for s in site_fields
                  for v in range(low, high + 1)]
        harm_prefixes = [f"{m},{p},{s}," for m in gt.HARM_MEASURES for p in window
                         for s in site_fields]

        gap = np.zeros(months, dtype=bool)
        gap[[window.index(p) for p in gt.language_gap_periods(end_period, months)]] = True
        intervention_from = window.index(gt.intervention_periods(end_period, months)[0])

        def per_site(mapping):
            return np.array([mapping.get(s, mapping.get("default", 0.0)) for s in sites])

        return cls(
            months=months,
            end_year=end_year,
            month_year=np.array([int(p[:4]) for p in window]),
            n_sites=len(sites),
            site_cum=_cumulative([s["share"] for s in gt.SITES]),
            hispanic_share=per_site(HISPANIC_SHARE),
            race_cum=_cumulative([RACE_MIX[s] for s in sites]),
            hispanic_race_cum=_cumulative(HISPANIC_RACE_MIX),
            language_cum=_cumulative([[LANGUAGE_MIX[r].get(lang, 0.0) for lang in languages]
                                      for r in race_eth]),
            age_cum=_cumulative([w for _, _, w in AGE_BANDS]),
            age_low=np.array([lo for lo, _, _ in AGE_BANDS]),
            age_high=np.array([hi for _, hi, _ in AGE_BANDS]),
            sex_cum=_cumulative(SEX_MIX),
            site_deprivation=per_site(SITE_DEPRIVATION),
            race_deprivation=np.array([RACE_DEPRIVATION[r] for r in race_eth]),
            inpatient_site=np.array([site_index[s["inpatient_site"]] for s in gt.SITES]),
            race_blank=per_site(gt.RACE_BLANK_SHARE),
            cdc_share=per_site({gt.CDC_FEED["site"]: gt.CDC_FEED["share"]}),
            local_share=per_site({gt.LOCAL_FEED["site"]: gt.LOCAL_FEED["share"]}),
            language_gap=gap,
            intervention_from=intervention_from,
            measure_ids=measure_ids,
            measure_code=code,
            mean_code=code["sbp_mean"],
            kind_measure_codes={k: np.array([code[m] for m in ms])
                                for k, ms in KIND_MEASURES.items()},
            measure_age_low=np.array([MEASURE_AGES[m][0] for m in measure_ids]),
            measure_age_high=np.array([MEASURE_AGES[m][1] for m in measure_ids]),
            measure_female_only=np.array([m in FEMALE_ONLY for m in measure_ids]),
            measure_inpatient=np.array([m in gt.INPATIENT_MEASURES for m in measure_ids]),
            excluded_share=np.array([gt.EXCLUDED_SHARE[m] for m in measure_ids]),
            race_tokens=race_tokens, race_style=race_style,
            ethnicity_tokens=ethnicity_tokens, ethnicity_style=ethnicity_style,
            language_tokens=language_tokens, language_style=language_style,
            simple_tokens=simple_tokens,
            birth_year_low=birth_year_low,
            id_format=f"P%0{max(7, len(str(patients)))}d,".encode(),
            result_tokens=_tokens(table),
            value_base=value_base,
            harm_prefixes=_tokens(harm_prefixes),
        )


def _draw(rng, cum: np.ndarray, n: int) -> np.ndarray:
    """Categorical draws from one cumulative distribution, or one per row (2-D)."""
    u = rng.random(n)
    if cum.ndim == 1:
        return np.searchsorted(cum, u, side="right")
    return (u[:, None] >= cum).sum(axis=1)


# --- one block of patients --------------------------------------------------------------------
def _block(rng: np.random.Generator, first: int, n: int, m: _Model,
           labs: _Labs | None = None) -> tuple[bytes, bytes, int]:
    """Patients first+1 .. first+n: their patients.csv lines, results.csv lines, result count;
    their labs.csv lines are handed to `labs`."""
    M = m.months
    race_eth_hispanic = len(gt.RACES)
    english, spanish = gt.LANGUAGES.index("English"), gt.LANGUAGES.index("Spanish")
    sign_language = gt.LANGUAGES.index("American Sign Language")
    black = gt.RACES.index(gt.BLACK)
    female = 0

    # Who they are.
    site = _draw(rng, m.site_cum, n)
    hispanic = rng.random(n) < m.hispanic_share[site]
    race_cum = np.where(hispanic[:, None], m.hispanic_race_cum[None, :], m.race_cum[site])
    race = _draw(rng, race_cum, n)
    race_eth = np.where(hispanic, race_eth_hispanic, race)
    band = _draw(rng, m.age_cum, n)
    age = m.age_low[band] + (rng.random(n) * (m.age_high[band] - m.age_low[band] + 1)).astype(int)
    birth_year = m.end_year - age
    sex = _draw(rng, m.sex_cum, n)
    deprivation = m.site_deprivation[site] + m.race_deprivation[race_eth]
    adi = np.clip(np.rint(5.5 + 1.3 * deprivation + 2.2 * rng.standard_normal(n)), 1, 10)
    adi = adi.astype(int)
    payer = _payer(rng, age, adi)
    language = _draw(rng, m.language_cum[race_eth], n)
    language[rng.random(n) < SIGN_LANGUAGE_SHARE] = sign_language
    interpreter = (language != english) & (
        (language == sign_language) | (rng.random(n) < INTERPRETER_NEED_SHARE))
    established = rng.random(n) < ESTABLISHED_SHARE
    first_seen = np.where(established, 0, rng.integers(1, max(M, 2), n)) if M > 1 else \
        np.zeros(n, dtype=int)
    # Nobody is seen before the year they are born.
    first_seen = np.maximum(first_seen, np.searchsorted(m.month_year, birth_year))

    # What their record says.
    u = rng.random(n)
    race_label = race.copy()
    blank = m.race_blank[site]
    race_label[u < blank + gt.RACE_ASKED_SHARE + gt.RACE_UNKNOWN_SHARE] = len(gt.RACES) + 1
    race_label[u < blank + gt.RACE_ASKED_SHARE] = len(gt.RACES)
    race_label[u < blank] = len(gt.RACE_LABELS)
    u = rng.random(n)
    ethnicity_label = np.where(hispanic, 0, 1)
    cut = gt.ETHNICITY_BLANK_SHARE
    ethnicity_label[u < cut + gt.ETHNICITY_ASKED_SHARE + gt.ETHNICITY_UNKNOWN_SHARE] = 3
    ethnicity_label[u < cut + gt.ETHNICITY_ASKED_SHARE] = 2
    ethnicity_label[u < cut] = len(gt.ETHNICITY_LABELS)
    language_label = language.copy()
    not_captured = (rng.random(n) < gt.LANGUAGE_BLANK_SHARE) | (
        m.language_gap[first_seen] & (rng.random(n) < gt.LANGUAGE_GAP_SHARE))
    language_label[not_captured] = len(gt.LANGUAGES)
    adi_label = np.where(rng.random(n) < gt.ADI_BLANK_SHARE, 0, adi)
    u = rng.random(n)
    style = np.full(n, CANONICAL)
    cdc = u < m.cdc_share[site]
    lower = rng.random(n) < gt.CDC_FEED["lowercase_null_flavor_share"]
    style[cdc] = np.where(lower[cdc], CDC_LOWER, CDC)
    style[u < m.local_share[site]] = LOCAL  # the two feeds are at different sites

    # What happens to them: events, each with a month on or after first seen.
    hypertension = (rng.random(n) < np.minimum(
        0.9, _by_age(HYPERTENSION, age) * np.where(race == black, HYPERTENSION_BLACK_FACTOR, 1)))
    diabetes_factor = np.ones(len(gt.RACES) + 1)
    for group, factor in DIABETES_FACTOR.items():
        diabetes_factor[(*gt.RACES, gt.HISPANIC).index(group)] = factor
    diabetes = rng.random(n) < _by_age(DIABETES, age) * diabetes_factor[race_eth]
    is_female = sex == female
    # Yearly cases: candidates by age at the end, exact age checked per case below.
    yearly = {
        HTN: hypertension & (age >= 18) & (age <= 87),
        DM: diabetes & (age >= 18) & (age <= 77),
        BCS: is_female & (age >= 50) & (age <= 76),
        COL: (age >= 45) & (age <= 77),
    }
    events_p, events_kind, events_month = [], [], []
    for kind, candidate in yearly.items():
        for year_end in range(M - 1, -1, -12):
            year_start = max(0, year_end - 11)
            present = candidate & (first_seen <= year_end) & (rng.random(n) < YEARLY_CASE_SHARE)
            who = np.flatnonzero(present)
            start = np.maximum(first_seen[who], year_start)
            month = start + (rng.random(len(who)) * (year_end - start + 1)).astype(int)
            events_p.append(who)
            events_kind.append(np.full(len(who), kind))
            events_month.append(month)
    active_years = (M - first_seen) / 12
    rates = {
        ADMISSION: _by_age(ADMISSIONS_PER_YEAR, age),
        ED: np.full(n, ED_PAIN_VISITS_PER_YEAR),
        DELIVERY: np.where(is_female, _by_age(DELIVERIES_PER_YEAR, age), 0.0),
        VISIT: np.where(interpreter, INTERPRETER_VISITS_PER_YEAR, 0.0),
    }
    for kind, per_year in rates.items():
        who = np.repeat(np.arange(n), rng.poisson(per_year * active_years))
        span = M - first_seen[who]
        events_p.append(who)
        events_kind.append(np.full(len(who), kind))
        events_month.append(first_seen[who] + (rng.random(len(who)) * span).astype(int))
    ev_p = np.concatenate(events_p)
    ev_kind = np.concatenate(events_kind)
    ev_month = np.concatenate(events_month)

    # A new patient's first case is in the month they were first seen, so that month can be
    # read off the results (the language defect is defined by it). Patients in care from the
    # start keep their months: moving theirs would pile cases into the first month.
    order = np.lexsort((ev_month, ev_p))
    leader = order[np.r_[True, ev_p[order][1:] != ev_p[order][:-1]]] if len(order) else order
    new = first_seen[ev_p[leader]] > 0
    leader = leader[new & (ev_month[leader] > first_seen[ev_p[leader]])]
    moved = first_seen[ev_p[leader]]
    fits = _event_fits(m, ev_kind[leader], m.month_year[moved] - birth_year[ev_p[leader]])
    ev_month[leader[fits]] = moved[fits]

    # One systolic reading per hypertension case drives both cbp and sbp_mean.
    sbp_mean = np.array([gt.SBP_MEAN[r] for r in gt.RACES])[race[ev_p]]
    treated = ((race[ev_p] == black) & (site[ev_p] == gt.SITE_NAMES.index(gt.HARBOR))
               & (ev_month >= m.intervention_from))
    sbp_mean = np.where(treated, gt.sbp_mean_for(gt.INTERVENTION["rate_after"]), sbp_mean)
    is_htn = ev_kind == HTN
    sbp = np.zeros(len(ev_p), dtype=int)
    low, high = gt.SBP_LIMITS
    sbp[is_htn] = np.clip(np.rint(sbp_mean[is_htn] + gt.SBP_SD
                                  * rng.standard_normal(int(is_htn.sum()))), low, high)

    # Cases: one per measure of each event.
    per_kind = np.array([len(KIND_MEASURES[k]) for k in range(len(KIND_MEASURES))])
    counts = per_kind[ev_kind]
    row_event = np.repeat(np.arange(len(ev_p)), counts)
    offset = np.arange(len(row_event)) - np.repeat(np.cumsum(counts) - counts, counts)
    measure_of_kind = np.full((len(KIND_MEASURES), per_kind.max()), -1)
    for k, codes in m.kind_measure_codes.items():
        measure_of_kind[k, :len(codes)] = codes
    mcode = measure_of_kind[ev_kind[row_event], offset]
    p = ev_p[row_event]
    month = ev_month[row_event]
    excluded = rng.random(len(p)) < m.excluded_share[mcode]
    is_mean = mcode == m.mean_code
    excluded[is_mean] = excluded[np.flatnonzero(is_mean) - 1]  # cbp, sbp_mean of one reading
    age_at = m.month_year[month] - birth_year[p]
    keep = ((age_at >= m.measure_age_low[mcode]) & (age_at <= m.measure_age_high[mcode])
            & (~m.measure_female_only[mcode] | is_female[p]))
    p, month, mcode, excluded, age_at = p[keep], month[keep], mcode[keep], excluded[keep], \
        age_at[keep]
    reading = sbp[row_event[keep]]
    home = site[p]
    row_site = np.where(m.measure_inpatient[mcode], m.inpatient_site[home], home)

    chance = np.zeros(len(p))
    code = m.measure_code
    lookups = {
        "gsd_poor": np.array([gt.GSD_POOR[g] for g in (*gt.RACES, gt.HISPANIC)])[race_eth[p]],
        "col_e": np.array([gt.COL_E[g] for g in (*gt.RACES, gt.HISPANIC)])[race_eth[p]],
        "bcs_e": np.array([gt.BCS_E[g] for g in gt.PAYERS])[payer[p]],
        "ppc_timely": np.full(len(p), gt.PPC_TIMELY),
        "readmit_30d": np.array([gt.READMIT_30D[r] for r in gt.RACES])[race[p]],
        "smm": np.array([gt.SMM[r] for r in gt.RACES])[race[p]],
        "sdoh_screen": np.array([gt.SDOH_SCREEN.get(s, gt.SDOH_SCREEN["default"])
                                 for s in gt.SITE_NAMES])[row_site],
        "interpreter_use": np.array([gt.INTERPRETER_USE.get(s, gt.INTERPRETER_USE["default"])
                                     for s in gt.SITE_NAMES])[row_site],
    }
    ed = np.array([gt.ED_ANALGESIA[g] for g in (*gt.RACES, gt.HISPANIC)])[race_eth[p]]
    by_language = gt.ED_ANALGESIA_HISPANIC_BY_LANGUAGE
    ed = np.where(race_eth[p] == race_eth_hispanic,
                  np.where(language[p] == spanish, by_language["Spanish"], by_language["English"]),
                  ed)
    lookups["ed_analgesia"] = ed
    for measure_id, rate in lookups.items():
        mask = mcode == code[measure_id]
        chance[mask] = rate[mask]
    met = rng.random(len(p)) < chance
    met[mcode == code["cbp"]] = reading[mcode == code["cbp"]] < gt.SBP_CONTROLLED_BELOW
    is_mean = mcode == m.mean_code

    # The text, one token per patient id and one per rest-of-line.
    outcome = np.where(excluded, 0, 1 + met)
    token = ((mcode * M + month) * m.n_sites + row_site) * 3 + outcome
    valued = is_mean & ~excluded
    low, _ = gt.SBP_LIMITS
    span = gt.SBP_LIMITS[1] - low + 1
    token[valued] = m.value_base + (month[valued] * m.n_sites + row_site[valued]) * span \
        + (reading[valued] - low)
    order = np.lexsort((mcode, month, p))
    ids = np.array(list(map(m.id_format.__mod__, range(first + 1, first + n + 1))), dtype=object)
    parts = np.empty(2 * len(order), dtype=object)
    parts[0::2] = ids[p[order]]
    parts[1::2] = m.result_tokens[token[order]]
    results_text = b"".join(parts.tolist())
    stays = np.flatnonzero(ev_kind == ADMISSION)
    stay_p = ev_p[stays]
    harm_text, harm_rows = _harm(
        rng, m, ids[stay_p], ev_month[stays], m.inpatient_site[site[stay_p]],
        m.month_year[ev_month[stays]] - birth_year[stay_p], race[stay_p] == black,
        language[stay_p] != english)

    t = m.simple_tokens
    columns = (
        ids,
        t["birth_year"][birth_year - m.birth_year_low],
        t["sex"][sex],
        m.race_tokens[m.race_style[style, race_label]],
        m.ethnicity_tokens[m.ethnicity_style[style, ethnicity_label]],
        m.language_tokens[m.language_style[style, language_label]],
        t["interpreter"][interpreter.astype(int)],
        t["payer"][payer],
        t["adi"][adi_label],
    )
    table = np.empty((n, len(columns)), dtype=object)
    for j, column in enumerate(columns):
        table[:, j] = column
    if labs is not None:
        # A child stream: drawing the labs leaves every other file's draws as they were.
        labs.add(rng.spawn(1)[0], ids, age, birth_year, sex == female, race == black,
                 diabetes, hypertension, first_seen, m.months)
    return (b"".join(table.ravel().tolist()), results_text + harm_text,
            len(order) + harm_rows)


def _harm(rng, m: _Model, ids: np.ndarray, month: np.ndarray, row_site: np.ndarray,
          age_at: np.ndarray, black: np.ndarray, not_english: np.ndarray) -> tuple[bytes, int]:
    """The harm-event cases of each stay: one row per harm measure with the stay's events
    (Poisson) and exposure (patient-days; 1 admission for complaints), after the rates of
    sample_data.ground_truth. Drawn after everything else of the block, so the other
    measures' cases do not depend on it."""
    stays = len(ids)
    if stays == 0:
        return b"", 0
    mean_days = np.where(age_at >= 65, gt.LENGTH_OF_STAY["65+"], gt.LENGTH_OF_STAY["under 65"])
    days = 1 + rng.poisson(mean_days - 1)
    per_unit = {
        "falls_injury": np.where(age_at >= 75, gt.FALLS_INJURY["75+"],
                                 gt.FALLS_INJURY["under 75"]),
        "pressure_injury": np.where(black, gt.PRESSURE_INJURY[gt.BLACK],
                                    gt.PRESSURE_INJURY["default"]),
        "adverse_drug_events": np.where(not_english, gt.ADVERSE_DRUG_EVENTS["other"],
                                        gt.ADVERSE_DRUG_EVENTS["English"]),
        "restraint_use": np.where(black, gt.RESTRAINT_USE[gt.BLACK],
                                  gt.RESTRAINT_USE["default"]),
        "complaints": np.where(not_english, gt.COMPLAINTS["other"], gt.COMPLAINTS["English"]),
    }
    exposure = np.array([np.ones(stays, dtype=int) if measure_id == "complaints" else days
                         for measure_id in gt.HARM_MEASURES])
    rate = np.array([per_unit[measure_id] for measure_id in gt.HARM_MEASURES])
    events = rng.poisson(rate * exposure)
    # The rest of each line after "measure,period,site,": one token per (events, exposure).
    most_days = int(exposure.max())
    tails = _tokens(f"{e},1,,{d}\n" for e in range(int(events.max()) + 1)
                    for d in range(most_days + 1))
    measure = np.arange(len(gt.HARM_MEASURES))[:, None]
    prefix = (measure * m.months + month[None, :]) * m.n_sites + row_site[None, :]
    parts = np.empty((stays, len(gt.HARM_MEASURES), 3), dtype=object)
    parts[:, :, 0] = ids[:, None]
    parts[:, :, 1] = m.harm_prefixes[prefix].T
    parts[:, :, 2] = tails[(events * (most_days + 1) + exposure).T]
    return b"".join(parts.ravel().tolist()), stays * len(gt.HARM_MEASURES)


# --- creatinine results (labs.csv), for the eGFR impact analysis ----------------------------
# Who has a serum creatinine in the window: KDIGO and ADA advise a yearly eGFR for people with
# diabetes or hypertension; others are tested now and then, more often when older (synthetic).
LAB_TESTED_SHARE = {"diabetes or hypertension": 0.85, "65 or older": 0.45, "other adults": 0.20}
LAB_REPEATS_PER_YEAR = {"diabetes or hypertension": 0.9, "others": 0.25}  # beyond the first
# Creatinine of people without kidney disease: log-normal, median by sex (synthetic, close to
# NHANES medians), a little higher on average in Black patients (the very difference the 2009
# race coefficient was fitted to).
CREATININE_MEDIAN = {"female": 0.74, "male": 0.96}
CREATININE_LOG_SD = 0.17
CREATININE_BLACK_FACTOR = 1.07
# Chronic kidney disease: share by age, raised by diabetes, hypertension and Black race
# (ESKD incidence about 3 times that of White patients, USRDS); its creatinine is the healthy
# one times exp(0.25 + 0.55 |Z|), which gives eGFR below 60, 30 and 20 in realistic shares.
CKD_SHARE = ((18, 44, 0.02), (45, 64, 0.05), (65, 74, 0.12), (75, 200, 0.22))
CKD_FACTOR = {"diabetes": 1.8, "hypertension": 1.5, "black": 1.4}
CKD_BLACK_SHIFT = 0.1  # and more advanced when present (faster progression, USRDS)
LAB_WITHIN_PERSON_LOG_SD = 0.07  # one person's results from month to month
# Reporting: a share of results in µmol/L (whole numbers), the rest in mg/dL (two decimals);
# about half written with their LOINC code instead of the word.
LAB_MICROMOL_SHARE = 0.25
LAB_LOINC_SHARE = 0.5
LAB_MG_DL_RANGE = (0.20, 15.0)


@dataclass
class _Labs:
    """The labs.csv lines of the blocks made so far, written and cleared with `write`."""
    period_days: np.ndarray  # token "YYYY-MM-DD," for (month index, day - 1)
    mg_tokens: np.ndarray  # (test spelling, hundredths - 20): "creatinine,1.23,mg/dL\n"
    micromol_tokens: np.ndarray  # (test spelling, µmol/L - low)
    micromol_low: int
    month_year: np.ndarray  # calendar year of each month index
    pending: list

    @classmethod
    def build(cls, end_period: str, months: int) -> _Labs:
        window = gt.periods(end_period, months)
        days = _tokens(f"{p}-{d:02d}," for p in window for d in range(1, 29))
        low, high = LAB_MG_DL_RANGE
        hundredths = range(round(low * 100), round(high * 100) + 1)
        micromol = range(round(low * 88.42), round(high * 88.42) + 1)
        mg = [[f"{test},{h / 100:.2f},mg/dL\n" for h in hundredths]
              for test in ("creatinine", "2160-0")]
        umol = [[f"{test},{v},umol/L\n" for v in micromol] for test in ("creatinine", "14682-9")]
        return cls(days.reshape(months, 28), _tokens(sum(mg, [])).reshape(2, -1),
                   _tokens(sum(umol, [])).reshape(2, -1), micromol.start,
                   np.array([int(p[:4]) for p in window]), [])

    def add(self, rng, ids, age, birth_year, is_female, is_black, diabetes, hypertension,
            first_seen, months) -> None:
        n = len(ids)
        adult = age >= 18
        at_risk = diabetes | hypertension
        share = np.where(at_risk, LAB_TESTED_SHARE["diabetes or hypertension"],
                         np.where(age >= 65, LAB_TESTED_SHARE["65 or older"],
                                  LAB_TESTED_SHARE["other adults"]))
        tested = adult & (rng.random(n) < share)
        years = (months - first_seen) / 12
        repeats = rng.poisson(np.where(at_risk, LAB_REPEATS_PER_YEAR["diabetes or hypertension"],
                                       LAB_REPEATS_PER_YEAR["others"]) * years)
        median = np.where(is_female, CREATININE_MEDIAN["female"], CREATININE_MEDIAN["male"])
        median = median * np.where(is_black, CREATININE_BLACK_FACTOR, 1.0)
        ckd_share = _by_age(CKD_SHARE, age) * np.where(diabetes, CKD_FACTOR["diabetes"], 1.0) \
            * np.where(hypertension, CKD_FACTOR["hypertension"], 1.0) \
            * np.where(is_black, CKD_FACTOR["black"], 1.0)
        ckd = rng.random(n) < np.minimum(ckd_share, 0.8)
        severity = np.where(ckd, np.exp(0.25 + np.where(is_black, CKD_BLACK_SHIFT, 0.0)
                                        + 0.55 * np.abs(rng.standard_normal(n))), 1.0)
        usual = median * severity * np.exp(CREATININE_LOG_SD * rng.standard_normal(n))

        who = np.repeat(np.flatnonzero(tested), 1 + repeats[tested])
        k = len(who)
        span = months - first_seen[who]
        month = first_seen[who] + (rng.random(k) * span).astype(int)
        day = rng.integers(0, 28, k)
        value = usual[who] * np.exp(LAB_WITHIN_PERSON_LOG_SD * rng.standard_normal(k))
        value = np.clip(value, *LAB_MG_DL_RANGE)
        # Adults at the test, as the equations need (age counted as for the measures).
        grown = self.month_year[month] - birth_year[who] >= 18
        who, month, day, value = who[grown], month[grown], day[grown], value[grown]
        k = len(who)
        micromol = rng.random(k) < LAB_MICROMOL_SHARE
        loinc = (rng.random(k) < LAB_LOINC_SHARE).astype(int)
        low = round(LAB_MG_DL_RANGE[0] * 100)
        rest = np.where(
            micromol,
            self.micromol_tokens[loinc, np.clip(np.rint(value * 88.42).astype(int)
                                                - self.micromol_low, 0,
                                                self.micromol_tokens.shape[1] - 1)],
            self.mg_tokens[loinc, np.rint(value * 100).astype(int) - low])
        order = np.lexsort((day, month, who))
        parts = np.empty(3 * k, dtype=object)
        parts[0::3] = ids[who[order]]
        parts[1::3] = self.period_days[month[order], day[order]]
        parts[2::3] = rest[order]
        self.pending.append((b"".join(parts.tolist()), k))

    def write(self, handle) -> int:
        handle.write(b"".join(text for text, _ in self.pending))
        written = sum(count for _, count in self.pending)
        self.pending = []
        return written


def _event_fits(m: _Model, kind: np.ndarray, age_at: np.ndarray) -> np.ndarray:
    """Whether an event at this age still yields a case of at least one of its measures."""
    fits = np.zeros(len(kind), dtype=bool)
    for k, codes in m.kind_measure_codes.items():
        low = m.measure_age_low[codes].min()
        high = m.measure_age_high[codes].max()
        fits |= (kind == k) & (age_at >= low) & (age_at <= high)
    return fits


def _payer(rng, age: np.ndarray, adi: np.ndarray) -> np.ndarray:
    """Payer (index into gt.PAYERS) from age and deprivation: Medicare and dual eligibility
    from 65, Medicaid and no insurance more common where deprivation is high."""
    d = adi - 1
    n = len(age)
    weights = np.zeros((n, len(gt.PAYERS)))
    commercial, medicare, medicaid, dual, uninsured, other = range(len(gt.PAYERS))
    old = age >= 65
    child = age < 18
    adult = ~old & ~child
    weights[old, dual] = 0.04 + 0.025 * d[old]
    weights[old, commercial] = 0.06
    weights[old, other] = 0.02
    weights[adult, medicaid] = 0.05 + 0.035 * d[adult]
    weights[adult, uninsured] = 0.02 + 0.01 * d[adult]
    weights[adult, dual] = 0.01
    weights[adult, medicare] = 0.02
    weights[adult, other] = 0.03
    weights[child, medicaid] = 0.15 + 0.05 * d[child]
    weights[child, uninsured] = 0.02
    weights[child, other] = 0.03
    rest = 1 - weights.sum(axis=1)
    weights[old, medicare] = rest[old]
    weights[~old, commercial] = rest[~old]
    return _draw(rng, _cumulative(weights), n)
