"""Allow ``python -m lensscan``."""

from lensscan.cli import main

if __name__ == "__main__":
    main()
