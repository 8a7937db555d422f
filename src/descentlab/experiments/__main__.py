"""``python -m descentlab.experiments compare SPEC.toml`` / ``… report DB`` (the same commands as ``descentlab``)."""

from descentlab.experiments.cli import main

main()
