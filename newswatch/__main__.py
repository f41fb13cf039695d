"""`python -m newswatch` and the `newswatch` console script.

Nothing heavy is imported at module level: the process pool's workers are spawned and import the
main module again (the console script imports this one), and they must not pay for the CLI,
SQLAlchemy and the config model."""


def run() -> int:
    from newswatch.cli import main

    return main()


if __name__ == "__main__":
    raise SystemExit(run())
