# Parses Python blocks of a README, for `cargo xtask extract`, so that a syntax error is
# named at its README line before any test runs. Reads a JSON list of [first line, source]
# from the file named by its argument; prints one JSON object per block that does not
# parse: its README line, the message and the offending line. Only parses (`ast.parse`): top-level `await` is fine here,
# and what only the compiler rejects (`return` outside a function) is left to the test.
#
# Run as a file (xtask/src/readme/syntax.rs names it), which mypy checks. It needs only
# the standard library, so that any Python 3.10+ runs it; an older one exits with 3.

import ast
import json
import sys

TOO_OLD = 3


def main() -> int:
    if sys.version_info < (3, 10):
        return TOO_OLD
    with open(sys.argv[1], encoding="utf-8") as blocks_file:
        blocks = json.load(blocks_file)
    for first_line, source in blocks:
        try:
            ast.parse(source, "<README block>", "exec")
        except SyntaxError as error:
            lineno = error.lineno or 1
            text = (error.text or "").rstrip("\n")
            found = {"line": first_line + lineno - 1, "message": error.msg, "text": text}
            print(json.dumps(found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
