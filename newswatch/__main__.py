from newswatch.cli import main

# The guard matters: the process pool spawns workers that import the main module again.
if __name__ == "__main__":
    raise SystemExit(main())
