# The static binary's __main__ (frozen by build/freeze.sh; launcher/main.c runs it).
from entrypoint.cli import run

run()
