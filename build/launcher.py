# PyInstaller entry script for the frozen sidecar-killer (build/freeze.sh).
from entrypoint.cli import run

run()
