"""Every test collected must run, and none may be skipped: a green run then means every test
counted was executed. Two ways a suite can look green while it is not: items sharing one node id
(xdist hands tests out by id, so all but one of them silently never run) and skips nobody looks at.
Loaded by the root conftest; checked on the process that reports (the xdist controller, or the
only process)."""

from __future__ import annotations

import pytest


class RunCount:
    def __init__(self) -> None:
        self.ran = 0
        self.skipped: list[str] = []
        self.lines: list[tuple[str, bool]] = []  # (text, red) for the terminal summary

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":  # one per test that ran, whatever happened in its setup or call
            self.ran += 1
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if exitstatus != pytest.ExitCode.OK or session.config.option.collectonly:
            return  # a failed or interrupted run is already red; a collection has nothing to run
        problems = []
        if self.ran != session.testscollected:
            problems.append(
                f"{session.testscollected} tests collected but {self.ran} ran "
                "(tests sharing a node id are run once under xdist)"
            )
        if self.skipped:
            names = ", ".join(self.skipped)
            problems.append(f"{len(self.skipped)} skipped, and a skip is a test not run: {names}")
        if problems:
            self.lines = [(f"run count: {problem}", True) for problem in problems]
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:  # the figure `make test` promises, printed where it can be read
            self.lines = [(f"run count: {self.ran} of {session.testscollected} collected tests ran", False)]

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for line, red in self.lines:  # (written here, the summary's place, rather than mid-line)
            terminalreporter.write_line(line, red=red)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # xdist workers report to the controller, which counts
        config.pluginmanager.register(RunCount(), "xtrack-run-count")
