"""The five phases of the STEPS Forward toolkit: items, and progress computed by rules."""
from tracker.progress import PHASES, phase_progress, race_ethnicity_recorded

__all__ = ["PHASES", "phase_progress", "race_ethnicity_recorded"]
