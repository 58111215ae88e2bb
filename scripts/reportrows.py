"""The rows of docs/RELIABILITY.md as the scripts that try things print
them: one Markdown table row per thing tried, and an exit status of 1 when
something did not hold. Shared by scripts/hostile.py, scripts/boundaries.py
and scripts/load-test.py."""

import sys
import time


class Report:
    def __init__(self, name, clock=False):
        self.name = name
        self.started = time.monotonic() if clock else None
        self.rows = []
        self.failures = []

    def log(self, *args):
        """A line of progress on standard error, after the script's name
        (and the seconds since it started, with `clock`)."""
        prefix = f"{self.name}:"
        if self.started is not None:
            prefix += f" [{time.monotonic() - self.started:5.0f} s]"
        print(prefix, *args, file=sys.stderr, flush=True)

    def row(self, area, tried, times, held, fixed, problems):
        """One table row; `problems` lists what did not hold."""
        if problems:
            self.failures.extend(f"{area}: {p}" for p in problems)
            held = "**did not hold:** " + "; ".join(problems) + (f" ({held})" if held else "")
        cells = (str(c).replace("|", "\\|") for c in (area, tried, times, held, fixed))
        self.rows.append("| " + " | ".join(cells) + " |")

    def finish(self):
        """Prints the rows; exits 1, naming each failure, if any."""
        for line in self.rows:
            print(line)
        if self.failures:
            for failure in self.failures:
                self.log("FAILED:", failure)
            sys.exit(1)
