from bench.run import main

# The guard matters: Newswatch's worker processes are spawned and import the main module again.
if __name__ == "__main__":
    main()
