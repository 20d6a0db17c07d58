"""Canonical labels of the data contract and the codes accepted for them.

Matching is case-insensitive and ignores surrounding spaces; what is stored is the canonical
label. Anything else must be mapped with a value map (`--value-map`): nothing is relabelled
silently.
"""
from __future__ import annotations

import re

MISSING = "Missing"
UNKNOWN = "Unknown"
ASKED_NO_ANSWER = "Asked but no answer"
# Groups that automatic reference choices never pick (DESIGN.md, statistical conventions).
NOT_KNOWN_GROUPS = frozenset({MISSING, UNKNOWN, ASKED_NO_ANSWER})

RACES = (
    "American Indian or Alaska Native",
    "Asian",
    "Black or African American",
    "Middle Eastern or North African",
    "Native Hawaiian or Other Pacific Islander",
    "White",
    "Multiracial",
    "Other race",
    ASKED_NO_ANSWER,
    UNKNOWN,
)
ETHNICITIES = ("Hispanic or Latino", "Not Hispanic or Latino", ASKED_NO_ANSWER, UNKNOWN)
SEXES = ("Female", "Male", "Other", "Unknown")
PAYERS = ("Commercial", "Medicare", "Medicaid", "Dual", "Uninsured", "Other")
YES_NO = ("Yes", "No")
MEASURE_KINDS = ("proportion", "mean", "rate")

# HL7 null flavors (US Core): never combined with a real code.
_NULL_FLAVORS = {"unk": UNKNOWN, "asku": ASKED_NO_ANSWER}

# CDC Race & Ethnicity code set (US Core); HEDIS names for two strata.
_RACE_CODES = {
    "1002-5": "American Indian or Alaska Native",
    "2028-9": "Asian",
    "2054-5": "Black or African American",
    "2076-8": "Native Hawaiian or Other Pacific Islander",
    "2106-3": "White",
    "2131-1": "Other race",
    "two or more races": "Multiracial",
    "some other race": "Other race",
}
_ETHNICITY_CODES = {"2135-2": "Hispanic or Latino", "2186-5": "Not Hispanic or Latino"}
_BOOLEAN_WORDS = {
    "yes": "Yes", "y": "Yes", "true": "Yes", "1": "Yes",
    "no": "No", "n": "No", "false": "No", "0": "No",
}


def _lookup(labels, *extra: dict[str, str]) -> dict[str, str]:
    table = {label.lower(): label for label in labels}
    for mapping in extra:
        table.update({key.lower(): value for key, value in mapping.items()})
    return table


# Column -> {lower-case accepted spelling: canonical label}. Columns not listed are free text.
ACCEPTED = {
    "race": _lookup(RACES, _RACE_CODES, _NULL_FLAVORS),
    "ethnicity": _lookup(ETHNICITIES, _ETHNICITY_CODES, _NULL_FLAVORS),
    "sex": _lookup(SEXES),
    "payer": _lookup(PAYERS),
    "interpreter_needed": _BOOLEAN_WORDS,
}

# What the error message quotes as the rule for each controlled column.
RULES = {
    "race": "one of: " + ", ".join(RACES) + " (or a CDC race code, UNK, ASKU)",
    "ethnicity": "one of: " + ", ".join(ETHNICITIES) + " (or 2135-2, 2186-5, UNK, ASKU)",
    "sex": "one of: female, male, other, unknown",
    "payer": "one of: " + ", ".join(PAYERS),
    "interpreter_needed": "yes/no, true/false, y/n or 1/0",
}


# A rate measure's unit names its multiplier and what the exposure counts: "per 1,000
# patient-days" is events / patient-days x 1,000; "per admission" is events / admissions.
_RATE_UNIT = re.compile(r"per\s+(?:([1-9][0-9]{0,2}(?:,[0-9]{3})*|[1-9][0-9]*)\s+)?([^\s0-9].*)",
                        re.IGNORECASE)
RATE_UNIT_RULE = ('a rate measure needs a unit saying what the rate is per: "per", an optional '
                  'whole-number multiplier, and what the exposure counts, e.g. "per 1,000 '
                  'patient-days" or "per admission"')


def rate_multiplier(unit: str | None) -> int | None:
    """The multiplier of a rate measure's unit ("per 1,000 patient-days" -> 1000, "per
    admission" -> 1); None when the unit does not have that form."""
    match = _RATE_UNIT.fullmatch((unit or "").strip())
    if match is None:
        return None
    return int((match.group(1) or "1").replace(",", ""))
