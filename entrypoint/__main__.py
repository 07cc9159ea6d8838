from entrypoint.cli import run

run()
