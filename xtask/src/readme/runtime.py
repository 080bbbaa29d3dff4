# The runtime of every test file that `cargo xtask extract` writes from a README. The
# generated file is this text, then README_PATH, BLOCKS and one test function per block.
# It imports only pytest and the standard library, so that it runs wherever it is written.
#
# Kept as a real file (xtask/src/readme/runtime.py, included with `include_str!`) so that
# mypy checks it. The frames that a failure passes through are hidden from pytest's
# tracebacks (`__tracebackhide__`): a failing block is reported at its README line.

import ast
import asyncio
import contextlib
import difflib
import doctest
import io
import linecache
import pprint
import sys
import traceback
import types
from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest
from _pytest.assertion.rewrite import rewrite_asserts


class _Block(NamedTuple):
    """One README block and what shapes its test."""

    # README line of the first line of code.
    line: int
    source: str
    # The block whose namespace and event loop this one carries on (`continue`).
    continues: int | None
    # Hidden (first line, source) blocks, run first in this block's namespace.
    setup: tuple[tuple[int, str], ...]
    # (first line, text) that the block must print.
    output: tuple[int, str] | None
    xfail: bool
    # An interactive session (`>>> `), run by doctest.
    session: bool


# Set by the generated file.
README_PATH = ""
BLOCKS: dict[int, _Block] = {}

# What blocks are compiled as, before their code takes the README's name.
_UNNAMED = "<README block>"

# Longest `output` diff shown, in lines.
_DIFF_LINES = 200

# Characters that `str.splitlines()` breaks at but Python source does not: pytest splits
# quoted source with it, which would shift the `>` marker past such a line.
_SPLITLINES_ONLY = str.maketrans(
    dict.fromkeys("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " ")
)


class _Chain:
    """What a `continue` chain shares: one namespace and one event loop."""

    def __init__(self, index: int) -> None:
        self.module = types.ModuleType(f"readme_block_{index}")
        self.module.__file__ = README_PATH
        sys.modules[self.module.__name__] = self.module
        self.loop: asyncio.AbstractEventLoop | None = None

    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The chain's loop, made on first use."""
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop

    @contextlib.contextmanager
    def current(self) -> Iterator[asyncio.AbstractEventLoop]:
        """Makes the chain's loop the current one while a block runs, as the asyncio REPL
        does, so that `asyncio.ensure_future()` in one block feeds an `await` in the next."""
        loop = self.event_loop()
        asyncio.set_event_loop(loop)
        try:
            yield loop
        finally:
            asyncio.set_event_loop(None)

    def close(self) -> None:
        """Ends the event loop as `asyncio.run()` would: pending tasks are cancelled."""
        loop, self.loop = self.loop, None
        if loop is None:
            return
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                gathered = asyncio.gather(*tasks, return_exceptions=True)
                loop.run_until_complete(gathered)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


class _ReadmeFailure(Exception):
    """A failure that names its README line and needs no traceback."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _register_readme_lines() -> None:
    """Lets tracebacks quote README lines, wherever this file and the README are.

    pytest parses the whole source file of each traceback entry. The line before each
    block is its fence, which is not Python, so that parse stops at the first fence instead
    of reading every block of a long README again for every failure."""
    lines: dict[int, str] = {}
    for block in BLOCKS.values():
        for first_line, source in [(block.line, block.source), *block.setup]:
            lines[first_line - 1] = "```\n"
            for offset, line in enumerate(source.split("\n")[:-1]):
                lines[first_line + offset] = line.translate(_SPLITLINES_ONLY) + "\n"
    last = max(lines, default=0)
    text = [lines.get(number, "\n") for number in range(1, last + 1)]
    # No mtime: linecache.checkcache() keeps the entry.
    linecache.cache[README_PATH] = (sum(map(len, text)), None, text, README_PATH)


def _chain_before(index: int) -> _Chain:
    """A new chain in the state that the blocks before `index` in its `continue` chain
    leave, made by running them again (what they print is neither shown nor checked).

    Each test builds its own, so that it sees exactly what those blocks produce, whatever
    ran before it: alone (-k), in reverse or random order, or on another xdist worker."""
    __tracebackhide__ = True
    previous = BLOCKS[index].continues
    if previous is None:
        return _Chain(index)
    chain = _chain_before(previous)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            _execute(BLOCKS[previous], chain)
    except BaseException:
        if not BLOCKS[previous].xfail:
            chain.close()
            line = BLOCKS[previous].line
            message = f"block {previous} (README line {line}), which this block continues, failed"
            raise _ReadmeFailure(line, message) from None
        # An expected failure: a `continue` block carries on from what it left.
    return chain


def _shifted(code: types.CodeType, lines: int) -> types.CodeType:
    """`code`, and every function and class in it, `lines` further down the README."""
    consts = tuple(
        _shifted(const, lines) if isinstance(const, types.CodeType) else const
        for const in code.co_consts
    )
    return code.replace(
        co_filename=README_PATH,
        co_firstlineno=code.co_firstlineno + lines,
        co_consts=consts,
    )


def _compile(first_line: int, source: str) -> types.CodeType:
    """Code whose lines are the README's. It starts at the block's first line, so that a
    traceback quotes the block, not the whole README above it."""
    __tracebackhide__ = True
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        # Not the README's name yet: CPython would read a syntax error's line, and place
        # its caret, from that file at the block-relative line number.
        tree = ast.parse(source, _UNNAMED, "exec")
        # pytest rewrites the asserts of test modules only: a README block gets the same,
        # so that a failing `assert` shows the values it compared.
        rewrite_asserts(tree, source.encode(), _UNNAMED)
        code = compile(tree, _UNNAMED, "exec", flags=flags, dont_inherit=True)
    except SyntaxError as error:
        raise _syntax_failure(error, first_line, source) from None
    return _shifted(code, first_line - 1)


def _syntax_failure(error: SyntaxError, first_line: int, source: str) -> _ReadmeFailure:
    """A syntax error, reported once, at its README line."""
    lines = source.split("\n")
    number = min(max(error.lineno or 1, 1), len(lines))
    line = first_line + number - 1
    end = error.end_lineno + first_line - 1 if error.end_lineno is not None else None
    details = (
        README_PATH,
        line,
        error.offset,
        lines[number - 1],
        end,
        error.end_offset,
    )
    moved = type(error)(error.msg, details)
    shown = "".join(traceback.format_exception_only(type(moved), moved))
    return _ReadmeFailure(line, f"{README_PATH}:{line}: syntax error\n{shown}")


def _exec(first_line: int, source: str, chain: _Chain) -> None:
    """Runs `source` as the README's own lines: `from __future__` and top-level `await`
    allowed, tracebacks pointing at the README."""
    __tracebackhide__ = True
    code = _compile(first_line, source)
    with chain.current() as loop:
        result = eval(code, chain.module.__dict__)
        if asyncio.iscoroutine(result):
            loop.run_until_complete(result)


class _SessionRunner(doctest.DocTestRunner):
    """Collects each failing example of a session, at its README line."""

    def __init__(self) -> None:
        super().__init__(verbose=False)
        self.failed: list[tuple[int, str]] = []

    def report_failure(
        self,
        out: Callable[[str], object],
        test: doctest.DocTest,
        example: doctest.Example,
        got: str,
    ) -> None:
        shown = f"Expected:\n{_indented(example.want)}Got:\n{_indented(got)}"
        self._add(test, example, shown)

    def report_unexpected_exception(
        self,
        out: Callable[[str], object],
        test: doctest.DocTest,
        example: doctest.Example,
        exc_info: tuple[type[BaseException], BaseException, types.TracebackType],
    ) -> None:
        raised = "".join(traceback.format_exception_only(exc_info[0], exc_info[1]))
        self._add(test, example, f"Raised:\n{_indented(raised)}")

    def _add(self, test: doctest.DocTest, example: doctest.Example, shown: str) -> None:
        line = (test.lineno or 0) + example.lineno + 1
        prompt = _indented(example.source, ">>> ")
        self.failed.append(
            (line, f"{README_PATH}:{line}: example failed\n{prompt}{shown}")
        )


def _indented(text: str, prefix: str = "    ") -> str:
    if not text:
        return f"{prefix}<nothing>\n"
    return "".join(prefix + line for line in text.splitlines(keepends=True))


def _run_session(first_line: int, source: str, chain: _Chain) -> None:
    """Runs an interactive session with the standard library's doctest."""
    parser = doctest.DocTestParser()
    name = f"{README_PATH}:{first_line}"
    test = parser.get_doctest(source, {}, name, README_PATH, first_line - 1)
    # doctest works on a copy of its globals; a session shares its chain's namespace.
    test.globs = chain.module.__dict__
    runner = _SessionRunner()
    with chain.current():
        runner.run(test, clear_globs=False)
    if runner.failed:
        line = runner.failed[0][0]
        raise _ReadmeFailure(line, "\n".join(text for _, text in runner.failed))


def _execute(block: _Block, chain: _Chain, printed: io.StringIO | None = None) -> None:
    """Runs a block's hidden setup, then the block, in `chain`; what the block prints goes
    to `printed` as well as to stdout."""
    __tracebackhide__ = True
    for first_line, source in block.setup:
        _exec(first_line, source, chain)
    with contextlib.redirect_stdout(printed) if printed else contextlib.nullcontext():
        if block.session:
            _run_session(block.line, block.source, chain)
        else:
            _exec(block.line, block.source, chain)


def _run(index: int) -> None:
    """Runs a block in the state its chain leaves, and checks what it printed."""
    __tracebackhide__ = True
    block = BLOCKS[index]
    chain = _chain_before(index)
    printed = io.StringIO()
    try:
        _execute(block, chain, printed)
    finally:
        sys.stdout.write(printed.getvalue())
        chain.close()
    if block.output is not None:
        _check_output(index, printed.getvalue())


def _failure_line(error: BaseException, block: _Block) -> int:
    """The README line a failure is at: the last README frame of its traceback."""
    if isinstance(error, _ReadmeFailure):
        return error.line
    if (
        isinstance(error, SyntaxError)
        and error.filename == README_PATH
        and error.lineno
    ):
        return error.lineno
    frames = traceback.extract_tb(error.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename == README_PATH]
    return next((line for line in reversed(lines) if line), block.line)


class _FullComparisons:
    """A plugin that shows a README block's failing comparison in full, as `-vv` does:
    pytest cuts each side to fit 80 columns (`[b'value of a...e of c', None]`), and both
    sides of a short example then look the same. Other tests keep pytest's explanation."""

    def __init__(self) -> None:
        self.active = False

    def pytest_assertrepr_compare(
        self, op: str, left: object, right: object
    ) -> list[str] | None:
        if not self.active:
            return None
        summary = f"{left!r} {op} {right!r}"
        if op != "==":
            return [summary]
        diff = difflib.ndiff(
            pprint.pformat(right).splitlines(), pprint.pformat(left).splitlines()
        )
        return [summary, "", "Full diff (- right, + left):", *(d.rstrip() for d in diff)]


_FULL_COMPARISONS = _FullComparisons()


def _show_full_comparisons(config: pytest.Config) -> None:
    """Registers the plugin once per session; hooks registered later run first, so that
    its explanation comes before pytest's own."""
    name = f"xtask-readme-comparisons-{id(_FULL_COMPARISONS)}"
    if not config.pluginmanager.has_plugin(name):
        config.pluginmanager.register(_FULL_COMPARISONS, name)


def _run_block(request: pytest.FixtureRequest, index: int) -> None:
    """The body of every test: runs block `index`, and on failure records its README
    line (`readme_failure` in the JUnit report), which `cargo xtask ci` annotates."""
    __tracebackhide__ = True
    _record(request, "readme_block", BLOCKS[index].line)
    _show_full_comparisons(request.config)
    _FULL_COMPARISONS.active = True
    try:
        _run(index)
        return
    except _ReadmeFailure as failure:
        line, message = failure.line, str(failure)
    except BaseException as error:
        _record(request, "readme_failure", _failure_line(error, BLOCKS[index]))
        raise
    finally:
        _FULL_COMPARISONS.active = False
    # Outside the `except`, so that the report shows no "during handling" chain, and from
    # a visible frame, so that pytest has an entry to show the message by (it quotes no
    # source for it).
    _record(request, "readme_failure", line)
    __tracebackhide__ = False
    pytest.fail(message, pytrace=False)


def _record(request: pytest.FixtureRequest, name: str, line: int) -> None:
    request.node.user_properties.append((name, f"{README_PATH}:{line}"))


def _output_lines(text: str) -> list[str]:
    """Lines without trailing whitespace, and without trailing blank lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _check_output(index: int, printed: str) -> None:
    first_line, text = BLOCKS[index].output or (0, "")
    expected, got = _output_lines(text), _output_lines(printed)
    if expected == got:
        return
    diff = list(
        difflib.unified_diff(
            expected,
            got,
            f"expected ({README_PATH} line {first_line})",
            "printed",
            lineterm="",
        )
    )
    if len(diff) > _DIFF_LINES:
        left_out = len(diff) - _DIFF_LINES
        diff = diff[:_DIFF_LINES] + [f"... {left_out} more lines of diff left out"]
    raise _ReadmeFailure(
        first_line,
        f"{README_PATH}:{first_line}: block {index} did not print what its `output` "
        "block says:\n" + "\n".join(diff),
    )
