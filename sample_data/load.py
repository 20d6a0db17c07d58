"""Generate the synthetic health system and load it through the normal importer."""
from __future__ import annotations

import tempfile
from collections.abc import Callable

DEFAULT_PATIENTS = 20_000
DEFAULT_SEED = 20240601


def load_sample(
    database_url: str | None = None,
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    end_period: str | None = None,
    progress: Callable[[str], None] | None = None,
    gate=None,
):
    """Write the sample extract to a temporary folder and import it (source "sample").

    The same path as a health system's own extract: what the importer refuses for them it
    refuses here, so the sample data can never bypass the data contract.
    """
    from sample_data.generator import generate
    from store import import_extract

    say = progress or (lambda _message: None)
    with tempfile.TemporaryDirectory(prefix="equity-sample-") as folder:
        say(f"Generating {patients:,} synthetic patients")
        options = {"end_period": end_period} if end_period else {}
        written = generate(folder, patients=patients, seed=seed, **options)
        say("Checking and importing the extract")
        return import_extract(
            written["patients"], written["results"], value_map_csv=written["value_map"],
            database_url=database_url, source="sample", gate=gate, labs_csv=written["labs"],
        )
