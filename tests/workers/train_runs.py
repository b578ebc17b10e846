"""Worker: several `cnnjax train` runs in one process, one process start-up for all. Arguments: each run's
`cnnjax train` arguments, runs separated by `--next`; exits with the first non-zero exit code."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from cnnjax.cli import main  # noqa: E402


def runs(argv: list[str]) -> list[list[str]]:
    groups = [[]]
    for arg in argv:
        if arg == "--next":
            groups.append([])
        else:
            groups[-1].append(arg)
    return groups


if __name__ == "__main__":
    for arguments in runs(sys.argv[1:]):
        code = main(["train", *arguments])
        if code:
            sys.exit(code)
