"""``python -m mmanet``: the command line."""

from mmanet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
