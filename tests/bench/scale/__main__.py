"""`python -m tests.bench.scale`: see the package's docstring."""

from tests.bench.scale.run import main

if __name__ == "__main__":
    main()
