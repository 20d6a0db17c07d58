"""The synthetic health system: a deterministic generator of an extract in the data contract,
and the ground truth (planted effects and defects) that a correct analysis should recover.

`generator.generate` writes the files; `ground_truth` holds every rate, share and window the
generator plants, as data, so tests and documentation read the same numbers it used.
"""
