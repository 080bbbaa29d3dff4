"""Lists the tests of each pytest stage, whole and in each of N pytest-split groups, in one
Python process (pytest.main once per list), so that the imports are paid once.

Usage: python collect.py N DURATIONS STAGE_EXPRESSION...
Prints one JSON object on its last line: {"STAGE|GROUP": [nodeid, ...]}, GROUP 0 = whole.
"""

import json
import sys

import pytest


class Collected:
    """Keeps the node ids of the tests a session selected (after -m and pytest-split)."""

    def __init__(self) -> None:
        self.nodeids: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.nodeids = [item.nodeid for item in session.items]


def main() -> None:
    shards, durations, stages = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    lists: dict[str, list[str]] = {}
    for stage in stages:
        for group in range(shards + 1):
            args = ["--collect-only", "-q", "-p", "no:cacheprovider", "-m", stage]
            if group:
                args += [
                    f"--splits={shards}",
                    f"--group={group}",
                    f"--durations-path={durations}",
                    "--splitting-algorithm=least_duration",
                ]
            collected = Collected()
            code = pytest.main(args, plugins=[collected])
            if code not in (0, 5):
                sys.exit(f"pytest {' '.join(args)} failed: exit code {code}")
            lists[f"{stage}|{group}"] = collected.nodeids
    print(json.dumps(lists))


if __name__ == "__main__":
    main()
