"""The ground truth of the synthetic health system, as data.

One source drives the generator (`sample_data.generator` reads every planted rate, share and
window from here) and the tests and documents that check an analysis recovers them.

Conventions
- Rates are proportions (0-1) of a measure's counted cases (denominator 1); `smm` is also a
  proportion here (0.0241 = 241 per 10,000 deliveries). `sbp_mean` rates are means in mmHg.
- Labels are the canonical labels of the data contract as the importer stores them (`Female`,
  `Yes`), so `where` and `group` can be passed to the metrics layer as they are.
- `where` restricts the cases to those for which the planted rates hold exactly; a value may be
  a list (any of). `stratifier` and the keys of `where` are the stratifier names of
  `metrics.strata` (race, ethnicity, preferred_language, sex, age_group, payer, site, period).
- `expected` is what a correct analysis should conclude at a size where the comparison has
  power: `flagged` (p <= 0.05 and relative adverse difference >= 10 %,
  the AHRQ rule), `significant_not_flagged` (a real difference under the 10 % rule), `null`
  (no planted difference), `improvement` (a change over time).
- `min_patients` is the size of extract (patients) from which a sample shows the expected
  conclusion about 95 % of the time: significance, and the estimated relative difference on
  the right side of 10 %. None when no practical size does (readmission sits 0.3 points under
  the 10 % line, so samples fall on both sides of it).
"""
from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from statistics import NormalDist

CATALOG_PATH = Path(__file__).resolve().parents[1] / "metrics" / "measures.csv"

END_PERIOD = "2026-10"
MONTHS = 24

# --- vocabularies (canonical labels of the data contract) ---------------------------------
AIAN = "American Indian or Alaska Native"
ASIAN = "Asian"
BLACK = "Black or African American"
MENA = "Middle Eastern or North African"
NHOPI = "Native Hawaiian or Other Pacific Islander"
WHITE = "White"
MULTIRACIAL = "Multiracial"
OTHER_RACE = "Other race"
ASKED = "Asked but no answer"
UNKNOWN = "Unknown"
HISPANIC = "Hispanic or Latino"
NOT_HISPANIC = "Not Hispanic or Latino"

RACES = (AIAN, ASIAN, BLACK, MENA, NHOPI, WHITE, MULTIRACIAL, OTHER_RACE)  # drawn as truth
RACE_LABELS = (*RACES, ASKED, UNKNOWN)
ETHNICITY_LABELS = (HISPANIC, NOT_HISPANIC, ASKED, UNKNOWN)
SEXES = ("female", "male", "other", "unknown")  # as written; the importer stores "Female"...
PAYERS = ("Commercial", "Medicare", "Medicaid", "Dual", "Uninsured", "Other")
LANGUAGES = (
    "English", "Spanish", "Chinese", "Vietnamese", "Arabic", "Russian", "Haitian Creole",
    "Portuguese", "Korean", "Somali", "American Sign Language",
)

# --- sites ------------------------------------------------------------------------------
FLAGSHIP = "Riverside University Hospital"
NORTHGATE = "Northgate Community Hospital"
EASTSIDE = "Eastside Community Hospital"
HARBOR = "Harbor Health Center"
SOUTHVIEW = "Southview Family Medicine"
WESTLAKE = "Westlake Medical Group"
LINCOLN_PARK = "Lincoln Park Clinic"

# `share`: of patients whose home site it is. `inpatient_site`: where its patients are admitted,
# seen in the ED and deliver (clinics have no beds), so those cases carry that site.
SITES = (
    {"name": FLAGSHIP, "kind": "flagship academic hospital", "share": 0.28,
     "inpatient_site": FLAGSHIP},
    {"name": NORTHGATE, "kind": "community hospital", "share": 0.16,
     "inpatient_site": NORTHGATE},
    {"name": EASTSIDE, "kind": "community hospital", "share": 0.14,
     "inpatient_site": EASTSIDE},
    {"name": HARBOR, "kind": "federally qualified health center", "share": 0.13,
     "inpatient_site": FLAGSHIP},
    {"name": SOUTHVIEW, "kind": "primary-care clinic", "share": 0.11,
     "inpatient_site": NORTHGATE},
    {"name": WESTLAKE, "kind": "multispecialty clinic", "share": 0.10,
     "inpatient_site": FLAGSHIP},
    {"name": LINCOLN_PARK, "kind": "primary-care clinic", "share": 0.08,
     "inpatient_site": EASTSIDE},
)
SITE_NAMES = tuple(site["name"] for site in SITES)

# Measures whose case happens where the patient is admitted, seen in the ED or delivers.
HARM_MEASURES = ("falls_injury", "pressure_injury", "adverse_drug_events", "restraint_use",
                 "complaints")  # rate measures: events of each stay (sample_data/README.md)
INPATIENT_MEASURES = ("readmit_30d", "sdoh_screen", "ed_analgesia", "smm", *HARM_MEASURES)

# --- planted rates ------------------------------------------------------------------------
# CBP and sbp_mean come from one systolic reading per case: controlled when SBP < 140. The
# normal's spread is chosen so that the published control rates (35 % vs 45 %) and a 4 mmHg
# Black-White difference in mean SBP hold at once.
CBP_CONTROLLED = {
    AIAN: 0.38, ASIAN: 0.48, BLACK: 0.35, MENA: 0.44, NHOPI: 0.38, WHITE: 0.45,
    MULTIRACIAL: 0.41, OTHER_RACE: 0.41,
}
SBP_CONTROLLED_BELOW = 140
SBP_BLACK_WHITE_GAP = 4.0
_z = NormalDist().inv_cdf
SBP_SD = SBP_BLACK_WHITE_GAP / (_z(CBP_CONTROLLED[WHITE]) - _z(CBP_CONTROLLED[BLACK]))
SBP_LIMITS = (80, 230)  # physiological clip; moves the means by far less than 0.01 mmHg


def sbp_mean_for(controlled: float) -> float:
    """Mean of the (unrounded) normal SBP giving P(rounded SBP < 140) = controlled."""
    return SBP_CONTROLLED_BELOW - 0.5 - SBP_SD * _z(controlled)


SBP_MEAN = {race: sbp_mean_for(rate) for race, rate in CBP_CONTROLLED.items()}

# The equity intervention: Black patients' BP control at Harbor rises in the last 6 months.
INTERVENTION = {"measure_id": "cbp", "site": HARBOR, "race": BLACK, "months": 6,
                "rate_before": CBP_CONTROLLED[BLACK], "rate_after": 0.44}

# Keyed by race, with HISPANIC for Hispanic patients of any race (the race-and-ethnicity
# combination): the published figures compare non-Hispanic races with Hispanic people.
GSD_POOR = {
    AIAN: 0.25, ASIAN: 0.14, BLACK: 0.24, MENA: 0.18, NHOPI: 0.24, WHITE: 0.17,
    MULTIRACIAL: 0.20, OTHER_RACE: 0.20, HISPANIC: 0.24,
}
COL_E = {
    AIAN: 0.52, ASIAN: 0.521, BLACK: 0.603, MENA: 0.58, NHOPI: 0.55, WHITE: 0.656,
    MULTIRACIAL: 0.60, OTHER_RACE: 0.58, HISPANIC: 0.474,
}
ED_ANALGESIA = {
    AIAN: 0.25, ASIAN: 0.28, BLACK: 0.23, MENA: 0.27, NHOPI: 0.26, WHITE: 0.31,
    MULTIRACIAL: 0.28, OTHER_RACE: 0.27, HISPANIC: 0.24,
}
# Among Hispanic patients, who speak Spanish or English (half and half), Spanish speakers get
# analgesia 12 points less often; centred so that Hispanic patients as a whole stay at 24 %.
SPANISH_SHARE_AMONG_HISPANIC = 0.5
ED_SPANISH_GAP = 0.12
ED_ANALGESIA_HISPANIC_BY_LANGUAGE = {
    "Spanish": ED_ANALGESIA[HISPANIC] - ED_SPANISH_GAP * (1 - SPANISH_SHARE_AMONG_HISPANIC),
    "English": ED_ANALGESIA[HISPANIC] + ED_SPANISH_GAP * SPANISH_SHARE_AMONG_HISPANIC,
}
# Keyed by race only (ethnicity plays no part).
SMM = {
    AIAN: 0.0190, ASIAN: 0.0150, BLACK: 0.0241, MENA: 0.0130, NHOPI: 0.0190, WHITE: 0.0114,
    MULTIRACIAL: 0.0160, OTHER_RACE: 0.0150,
}
READMIT_30D = {
    AIAN: 0.235, ASIAN: 0.215, BLACK: 0.248, MENA: 0.225, NHOPI: 0.235, WHITE: 0.226,
    MULTIRACIAL: 0.230, OTHER_RACE: 0.230,
}
BCS_E = {"Commercial": 0.80, "Medicare": 0.78, "Medicaid": 0.68, "Dual": 0.70,
         "Uninsured": 0.50, "Other": 0.75}
BCS_E_OVERALL = 0.76  # what the payer mix of eligible women adds up to (about)
PPC_TIMELY = 0.80  # the same for everyone: a measure with no planted effect at all
SDOH_SCREEN = {"default": 0.82, NORTHGATE: 0.35}
INTERPRETER_USE = {"default": 0.80, WESTLAKE: 0.40}
# --- harm events: one case per stay (admission) with its patient-days as exposure ---------
# Mean patient-days of a stay by age at the stay (at least 1 day): US stays average about 4.5
# to 5.5 days (HCUP, unverified here).
LENGTH_OF_STAY = {"under 65": 3.8, "65+": 5.2}
# Events per patient-day. Falls depend on age only (age is drawn independently of race): the
# null finding by race stays a clean one. About 0.5-1 falls with injury per 1,000
# patient-days is the usual NDNQI range (unverified here); the age step is synthetic.
FALLS_INJURY = {"under 75": 0.0008, "75+": 0.0025}
# Black patients more often develop hospital-acquired pressure injuries (reported in the
# wound-care literature; size synthetic, unverified).
PRESSURE_INJURY = {"default": 0.0012, BLACK: 0.0020}
# Patients whose preferred language is not English: adverse events more often, and more
# often harmful (Divi et al., Int J Qual Health Care 2007; the size here is synthetic).
ADVERSE_DRUG_EVENTS = {"English": 0.004, "other": 0.008}
# Black patients are physically restrained more often (Carreras Tartak et al., Acad Emerg
# Med 2021, in emergency departments, adjusted OR about 1.2; size synthetic, unverified).
RESTRAINT_USE = {"default": 0.006, BLACK: 0.009}
# Complaints per admission (exposure 1 per stay): higher where language is a barrier
# (synthetic, unverified).
COMPLAINTS = {"English": 0.015, "other": 0.030}

# Excluded cases (denominator 0, numerator 0, no value): hospice, ESRD, mastectomy, transfers...
EXCLUDED_SHARE = {
    "cbp": 0.03, "gsd_poor": 0.02, "bcs_e": 0.01, "col_e": 0.015, "ppc_timely": 0.01,
    "readmit_30d": 0.04, "ed_analgesia": 0.01, "smm": 0.005, "sdoh_screen": 0.02,
    "interpreter_use": 0.0, **{measure_id: 0.0 for measure_id in HARM_MEASURES},
}
EXCLUDED_SHARE["sbp_mean"] = EXCLUDED_SHARE["cbp"]  # one reading: excluded for both or neither

# --- data-quality defects -----------------------------------------------------------------
RACE_BLANK_SHARE = {SOUTHVIEW: 0.35, "default": 0.02}  # race left empty, by home site
RACE_ASKED_SHARE = 0.03
RACE_UNKNOWN_SHARE = 0.015
ETHNICITY_BLANK_SHARE = 0.02
ETHNICITY_ASKED_SHARE = 0.02
ETHNICITY_UNKNOWN_SHARE = 0.015
LANGUAGE_BLANK_SHARE = 0.01
ADI_BLANK_SHARE = 0.04  # addresses that could not be geocoded
# An EHR upgrade stopped capturing preferred language: every patient first seen in these
# months (counted back from the end period) has it empty. Interpreter need was unaffected.
LANGUAGE_GAP_MONTHS_BEFORE_END = (9, 8, 7)
LANGUAGE_GAP_SHARE = 1.0

# One site's feed sends US Core codes; a quarter of those patients' null flavors are lower case.
CDC_FEED = {"site": EASTSIDE, "share": 0.60, "lowercase_null_flavor_share": 0.25}
# One site's legacy feed sends local codes, translated by value_map.csv.
LOCAL_FEED = {"site": LINCOLN_PARK, "share": 0.70}

CDC_RACE_CODES = {AIAN: "1002-5", ASIAN: "2028-9", BLACK: "2054-5", NHOPI: "2076-8",
                  WHITE: "2106-3", OTHER_RACE: "2131-1"}
CDC_ETHNICITY_CODES = {HISPANIC: "2135-2", NOT_HISPANIC: "2186-5"}
NULL_FLAVORS = {ASKED: "ASKU", UNKNOWN: "UNK"}
LOCAL_CODES = {
    "race": {"AIA": AIAN, "ASN": ASIAN, "BLK": BLACK, "MENA": MENA, "PAC": NHOPI, "WHT": WHITE,
             "MULTI": MULTIRACIAL, "OTH": OTHER_RACE, "DECL": ASKED, "UNKN": UNKNOWN},
    "ethnicity": {"HISP": HISPANIC, "NONHISP": NOT_HISPANIC, "DECL": ASKED, "UNKN": UNKNOWN},
    "preferred_language": {
        "ENG": "English", "SPA": "Spanish", "CHI": "Chinese", "VIE": "Vietnamese",
        "ARA": "Arabic", "RUS": "Russian", "HAT": "Haitian Creole", "POR": "Portuguese",
        "KOR": "Korean", "SOM": "Somali", "ASL": "American Sign Language",
    },
}


# --- periods ------------------------------------------------------------------------------
_PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def month_index(period: str) -> int:
    match = _PERIOD.fullmatch(period)
    if not match:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return int(match[1]) * 12 + int(match[2]) - 1


def periods(end_period: str = END_PERIOD, months: int = MONTHS) -> list[str]:
    """The consecutive months of the extract, oldest first, ending at end_period."""
    end = month_index(end_period)
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(end - months + 1, end + 1)]


def intervention_periods(end_period: str = END_PERIOD, months: int = MONTHS) -> list[str]:
    return periods(end_period, months)[-INTERVENTION["months"]:]


def language_gap_periods(end_period: str = END_PERIOD, months: int = MONTHS) -> list[str]:
    """First-seen months whose patients have no preferred language recorded.

    The first month is never one of them: patients "first seen" then include everyone
    already in care when the extract starts."""
    window = periods(end_period, months)
    return [window[-1 - back] for back in LANGUAGE_GAP_MONTHS_BEFORE_END if back < months - 1]


# --- the catalog ----------------------------------------------------------------------------
@functools.cache
def load_catalog() -> dict[str, dict]:
    """measure_id -> row of metrics/measures.csv (kind, higher_is_better, ...), in file order."""
    with CATALOG_PATH.open(encoding="utf-8", newline="") as handle:
        return {row["measure_id"]: row for row in csv.DictReader(handle)}


def relative_adverse_difference(measure_id: str, rate: float, reference_rate: float) -> float:
    """Keppel & Pearcy: on 1 - rate when higher is better, on the rate (or mean) otherwise."""
    row = load_catalog()[measure_id]
    higher = row["higher_is_better"].strip().lower() == "true"
    if row["kind"] in ("mean", "rate"):
        sign = -1 if higher else 1
        return sign * (rate - reference_rate) / abs(reference_rate)
    adverse, reference = (1 - rate, 1 - reference_rate) if higher else (rate, reference_rate)
    return (adverse - reference) / reference


# --- the planted effects --------------------------------------------------------------------
def planted_effects(end_period: str = END_PERIOD, months: int = MONTHS) -> list[dict]:
    """Every planted comparison: what the generator put in and what an analysis should find."""
    window = periods(end_period, months)
    after = intervention_periods(end_period, months)
    before = [p for p in window if p not in after]
    not_harbor = [s for s in SITE_NAMES if s != HARBOR]
    non_hispanic = {"ethnicity": NOT_HISPANIC}
    hispanic = {"ethnicity": HISPANIC}
    effects = []

    def add(key, measure_id, stratifier, group, reference, group_rate, reference_rate, where,
            expected, source, note="", min_patients=20_000):
        relative = (None if group_rate is None or reference_rate is None
                    else relative_adverse_difference(measure_id, group_rate, reference_rate))
        effects.append({
            "id": key, "measure_id": measure_id, "stratifier": stratifier, "group": group,
            "reference": reference, "group_rate": group_rate, "reference_rate": reference_rate,
            "relative_adverse_difference": relative, "where": where, "expected": expected,
            "min_patients": min_patients, "source": source, "note": note,
        })

    hayes = "Hayes et al., Am J Hypertens 2022: BP control 34.9 % Black vs 45.0 % White"
    add("cbp_black_white", "cbp", "race", BLACK, WHITE, CBP_CONTROLLED[BLACK],
        CBP_CONTROLLED[WHITE], {"site": not_harbor}, "flagged", hayes,
        "Harbor Health Center is left out: its last months carry the intervention.")
    add("cbp_harbor_before", "cbp", "race", BLACK, WHITE, INTERVENTION["rate_before"],
        CBP_CONTROLLED[WHITE], {"site": HARBOR, "period": before}, "flagged", hayes,
        "The gap at Harbor before its intervention.", min_patients=100_000)
    add("cbp_harbor_intervention", "cbp", "race", BLACK, WHITE, INTERVENTION["rate_after"],
        CBP_CONTROLLED[WHITE], {"site": HARBOR, "period": after}, "improvement",
        "Synthetic: an equity intervention (outreach, team-based BP care) at one site",
        f"Black patients' control at Harbor rises from {INTERVENTION['rate_before']:.0%} to "
        f"{INTERVENTION['rate_after']:.0%} from {after[0]} on; White patients stay at "
        f"{CBP_CONTROLLED[WHITE]:.0%}: the gap narrows from 10 points to 1.",
        min_patients=100_000)
    add("sbp_black_white", "sbp_mean", "race", BLACK, WHITE, SBP_MEAN[BLACK], SBP_MEAN[WHITE],
        {"site": not_harbor}, "significant_not_flagged",
        "Synthetic, consistent with the CBP gap (about 4 mmHg)",
        "A 4 mmHg (2.8 %) difference in a mean: significant, below the 10 % relative rule.")

    nhis = "NHIS 2015: up to date 65.6 White, 60.3 Black, 52.1 Asian, 47.4 % Hispanic"
    add("col_black_white", "col_e", "race", BLACK, WHITE, COL_E[BLACK], COL_E[WHITE],
        non_hispanic, "flagged", nhis, "Among non-Hispanic patients.", min_patients=60_000)
    add("col_asian_white", "col_e", "race", ASIAN, WHITE, COL_E[ASIAN], COL_E[WHITE],
        non_hispanic, "flagged", nhis, "Among non-Hispanic patients.")
    add("col_hispanic", "col_e", "ethnicity", HISPANIC, NOT_HISPANIC, COL_E[HISPANIC], None,
        {}, "flagged", nhis, "The reference is the non-Hispanic mix of races (about 62 %).")

    joynt = ("Joynt, Orav & Jha, JAMA 2011 (Medicare AMI, CHF, pneumonia): 24.8 % Black vs "
             "22.6 % White")
    add("readmit_black_white", "readmit_30d", "race", BLACK, WHITE, READMIT_30D[BLACK],
        READMIT_30D[WHITE], {}, "significant_not_flagged", joynt,
        "Relative difference 9.7 %: real, significant from about 100,000 patients, yet under "
        "the 10 % rule. The estimate falls on either side of 10 % from sample to sample (about "
        "+-2.5 points at 100,000 patients): the borderline teaching case.",
        min_patients=None)

    pletcher = "Pletcher et al., JAMA 2008: analgesia 31 White, 23 Black, 24 Hispanic, 28 % Asian"
    add("ed_black_white", "ed_analgesia", "race", BLACK, WHITE, ED_ANALGESIA[BLACK],
        ED_ANALGESIA[WHITE], non_hispanic, "flagged", pletcher,
        "Among non-Hispanic patients. Relative difference 11.6 %, close to the line: at "
        "100,000 patients the estimate still falls on either side of 10 % (seen: 9.7 % at the "
        "default seed), so no size is promised for the flag.", min_patients=None)
    add("ed_asian_white", "ed_analgesia", "race", ASIAN, WHITE, ED_ANALGESIA[ASIAN],
        ED_ANALGESIA[WHITE], non_hispanic, "significant_not_flagged", pletcher,
        "Relative difference 4.3 %: significant only at large sizes.", min_patients=100_000)
    add("ed_hispanic", "ed_analgesia", "ethnicity", HISPANIC, NOT_HISPANIC, ED_ANALGESIA[HISPANIC],
        None, {}, "significant_not_flagged", pletcher,
        "Against White patients alone the relative difference is 10.1 % (borderline); against "
        "the non-Hispanic mix (about 28 %) it is about 6 %.")
    add("ed_spanish_english_hispanic", "ed_analgesia", "preferred_language", "Spanish",
        "English", ED_ANALGESIA_HISPANIC_BY_LANGUAGE["Spanish"],
        ED_ANALGESIA_HISPANIC_BY_LANGUAGE["English"], hispanic, "flagged",
        "Synthetic, after the language findings of the ED analgesia literature",
        "Among Hispanic patients; over all patients Spanish speakers are also flagged against "
        "English speakers (about 18 % vs 28 %).")

    hcup = "HCUP 2015: severe maternal morbidity 241 Black vs 114 White per 10,000 deliveries"
    add("smm_black_white", "smm", "race", BLACK, WHITE, SMM[BLACK], SMM[WHITE], {}, "flagged",
        hcup, "Rare: small cells are suppressed at 20,000 patients; clear from about 500,000.",
        min_patients=500_000)

    add("gsd_black_white", "gsd_poor", "race", BLACK, WHITE, GSD_POOR[BLACK], GSD_POOR[WHITE],
        non_hispanic, "flagged", "DOMAIN.md: 5-8 points (unverified)",
        "Among non-Hispanic patients.")
    add("gsd_hispanic", "gsd_poor", "ethnicity", HISPANIC, NOT_HISPANIC, GSD_POOR[HISPANIC],
        None, {}, "flagged", "DOMAIN.md: 5-8 points (unverified)",
        "The reference is the non-Hispanic mix of races (about 20 %).", min_patients=60_000)

    bcs = "Overall about 76 % (2021); lower for Medicaid and uninsured women (gradient synthetic)"
    add("bcs_medicaid", "bcs_e", "payer", "Medicaid", "Commercial", BCS_E["Medicaid"],
        BCS_E["Commercial"], {}, "flagged", bcs)
    add("bcs_uninsured", "bcs_e", "payer", "Uninsured", "Commercial", BCS_E["Uninsured"],
        BCS_E["Commercial"], {}, "flagged", bcs)

    add("interpreter_site", "interpreter_use", "site", WESTLAKE, FLAGSHIP,
        INTERPRETER_USE[WESTLAKE], INTERPRETER_USE["default"], {}, "flagged",
        "Synthetic: one clinic without in-person or video interpreters at hand",
        "By language the rates then differ too, because Westlake's patients are more often "
        "Asian: that is the site, not the language.")
    add("sdoh_site", "sdoh_screen", "site", NORTHGATE, FLAGSHIP, SDOH_SCREEN[NORTHGATE],
        SDOH_SCREEN["default"], {}, "flagged",
        "Synthetic: one hospital has not rolled out the SDOH-1 screening workflow",
        "Race and payer differences in screening follow from who is admitted to Northgate.")
    add("falls_age", "falls_injury", "age_group", "75+", "45-64", FALLS_INJURY["75+"],
        FALLS_INJURY["under 75"], {}, "flagged", "Synthetic (unverified)",
        "Rates are per patient-day here; the dashboard shows them per 1,000 patient-days. "
        "At 20,000 patients the falls of patients aged 45-64 are a small cell.",
        min_patients=100_000)
    add("pressure_black_white", "pressure_injury", "race", BLACK, WHITE, PRESSURE_INJURY[BLACK],
        PRESSURE_INJURY["default"], {}, "flagged", "Synthetic (unverified)",
        "Rare events: visible from about 100,000 patients.", min_patients=100_000)
    add("ade_spanish_english", "adverse_drug_events", "preferred_language", "Spanish",
        "English", ADVERSE_DRUG_EVENTS["other"], ADVERSE_DRUG_EVENTS["English"], {},
        "flagged", "Divi et al., Int J Qual Health Care 2007 (direction; size synthetic)",
        "Every language other than English has the higher rate; Spanish is the largest such "
        "group.", min_patients=60_000)
    add("restraint_black_white", "restraint_use", "race", BLACK, WHITE, RESTRAINT_USE[BLACK],
        RESTRAINT_USE["default"], {}, "flagged",
        "Carreras Tartak et al., Acad Emerg Med 2021 (direction; size synthetic, unverified)",
        min_patients=60_000)
    add("complaints_spanish_english", "complaints", "preferred_language", "Spanish", "English",
        COMPLAINTS["other"], COMPLAINTS["English"], {}, "flagged", "Synthetic (unverified)",
        "Per admission.", min_patients=60_000)

    add("falls_race_null", "falls_injury", "race", BLACK, WHITE, None, None, {}, "null",
        "Synthetic: no race effect planted",
        "Falls depend on age only, and age is drawn independently of race.")
    add("col_sex_null", "col_e", "sex", "Female", "Male", None, None, {}, "null",
        "Synthetic: no sex effect planted")
    add("ppc_race_null", "ppc_timely", "race", BLACK, WHITE, PPC_TIMELY, PPC_TIMELY, {}, "null",
        "Synthetic: timely prenatal care is 80 % for everyone")
    return effects


PLANTED_EFFECTS = planted_effects()


def defects(end_period: str = END_PERIOD, months: int = MONTHS) -> list[dict]:
    """Every planted data-quality defect: the field, where, how much, and how to see it."""
    gap = language_gap_periods(end_period, months)
    return [
        {"id": "race_blank_site", "field": "race", "site": SOUTHVIEW, "value": "",
         "share": RACE_BLANK_SHARE[SOUTHVIEW],
         "note": "Race left empty for patients whose home site it is (registration skips it)."},
        {"id": "race_blank", "field": "race", "site": None, "value": "",
         "share": RACE_BLANK_SHARE["default"], "note": "Every other site."},
        {"id": "race_asked", "field": "race", "site": None, "value": ASKED,
         "share": RACE_ASKED_SHARE, "note": "Also sent as ASKU (CDC feed) or DECL (local)."},
        {"id": "race_unknown", "field": "race", "site": None, "value": UNKNOWN,
         "share": RACE_UNKNOWN_SHARE, "note": "Also sent as UNK (CDC feed) or UNKN (local)."},
        {"id": "ethnicity_blank", "field": "ethnicity", "site": None, "value": "",
         "share": ETHNICITY_BLANK_SHARE, "note": ""},
        {"id": "ethnicity_asked", "field": "ethnicity", "site": None, "value": ASKED,
         "share": ETHNICITY_ASKED_SHARE, "note": ""},
        {"id": "ethnicity_unknown", "field": "ethnicity", "site": None, "value": UNKNOWN,
         "share": ETHNICITY_UNKNOWN_SHARE, "note": ""},
        {"id": "language_gap", "field": "preferred_language", "site": None, "value": "",
         "share": LANGUAGE_GAP_SHARE, "first_seen": gap,
         "note": "EHR upgrade: not captured for patients first seen in these months (the "
                 "month of a patient's first result); interpreter_needed still recorded."},
        {"id": "language_blank", "field": "preferred_language", "site": None, "value": "",
         "share": LANGUAGE_BLANK_SHARE, "note": "Outside the upgrade window."},
        {"id": "adi_blank", "field": "adi_decile", "site": None, "value": "",
         "share": ADI_BLANK_SHARE, "note": "Address not geocoded."},
        {"id": "cdc_codes", "field": "race, ethnicity", "site": CDC_FEED["site"],
         "value": "CDC codes, UNK, ASKU", "share": CDC_FEED["share"],
         "note": "US Core codes instead of labels; a quarter of the null flavors in lower case. "
                 "Multiracial and Middle Eastern or North African have no code: labels."},
        {"id": "local_codes", "field": "race, ethnicity, preferred_language",
         "site": LOCAL_FEED["site"], "value": "local codes (value_map.csv)",
         "share": LOCAL_FEED["share"], "note": "BLK, WHT, ASN, ...; SPA, ENG, ..."},
        {"id": "excluded_cases", "field": "denominator", "site": None, "value": "0",
         "share": dict(EXCLUDED_SHARE), "note": "Share of each measure's cases."},
    ]


DEFECTS = defects()
