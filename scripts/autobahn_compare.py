#!/usr/bin/env python3
"""Compare Autobahn|Testsuite reports with the committed expected results.

Usage:
  autobahn_compare.py [--update] [--skip PATTERNS] EXPECTED ROLE[:PATTERNS]=REPORT_DIR...

EXPECTED is a JSON file {"server": {case: {"behavior": B, "behaviorClose": C}},
"client": {...}}. Each ROLE=REPORT_DIR names the role ("server" or "client")
whose expectations a report is held to; several reports may share a role (the
three echo servers are all held to "server", the two client testees to
"client"). ROLE:PATTERNS=REPORT_DIR skips
PATTERNS for that report only ("server:12.*,13.*=DIR": a server run without
the compression cases).

A case fails the comparison when its behavior or close behavior is FAILED (or
anything wstest did not classify as OK, NON-STRICT, INFORMATIONAL or
UNIMPLEMENTED), or when it differs from the expected value and is not OK: a
case may only get better. A case missing from a report fails too, unless it
matches one of the --skip patterns (comma-separated, wstest style: "12.*"; for
every report) or of the report's own.
Cases that turned OK where something else was expected are listed, and pass:
run with --update to record them.

--update rewrites EXPECTED from the reports (each role from its first report,
which must skip nothing; the others may skip their own patterns) and then
compares, so that a FAILED case is never recorded silently.

Exit status: 0 when every report meets the expectations, 1 otherwise, 2 when a
file cannot be read.
"""
import argparse
import fnmatch
import json
import os
import sys

KNOWN = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED")


def case_key(case_id):
    return [int(p) if p.isdigit() else 0 for p in case_id.split(".")]


def patterns(text):
    """Comma-separated case patterns, as a list."""
    return [p.strip() for p in text.split(",") if p.strip()]


def load_report(report_dir):
    """The cases of the one agent in REPORT_DIR/index.json."""
    with open(os.path.join(report_dir, "index.json")) as f:
        index = json.load(f)
    if len(index) != 1:
        raise ValueError("%s: expected one agent, found %s" % (report_dir, sorted(index)))
    (cases,) = index.values()
    return {
        cid: {"behavior": c.get("behavior", "?"), "behaviorClose": c.get("behaviorClose", "?")}
        for cid, c in cases.items()
    }


def format_expected(expected):
    """JSON with one case per line, so that a change reads as a one-line diff."""
    lines = ["{"]
    for i, (role, cases) in enumerate(expected.items()):
        lines.append("  %s: {" % json.dumps(role))
        items = sorted(cases.items(), key=lambda kv: case_key(kv[0]))
        for j, (cid, c) in enumerate(items):
            comma = "," if j + 1 < len(items) else ""
            lines.append("    %s: %s%s" % (json.dumps(cid), json.dumps(c, sort_keys=True), comma))
        lines.append("  }" + ("," if i + 1 < len(expected) else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def check(role, label, expected, actual, skip):
    """Prints the problems of one report; returns how many there are."""
    problems, improved = [], []
    for cid in sorted(set(expected) | set(actual), key=case_key):
        want, got = expected.get(cid), actual.get(cid)
        if got is None:
            if not any(fnmatch.fnmatchcase(cid, p) for p in skip):
                problems.append("%s: missing from the report" % cid)
            continue
        if want is None:
            problems.append("%s: not in the expected results (got %s / %s)"
                            % (cid, got["behavior"], got["behaviorClose"]))
            continue
        for field in ("behavior", "behaviorClose"):
            g, w = got[field], want[field]
            if g not in KNOWN:
                problems.append("%s: %s %s" % (cid, field, g))
            elif g != w and g != "OK":
                problems.append("%s: %s %s, expected %s" % (cid, field, g, w))
            elif g != w:
                improved.append("%s: %s %s, expected %s" % (cid, field, g, w))
    checked = len(actual)
    skipped = " (skipped: %s)" % ",".join(skip) if skip else ""
    print("%s (%s): %d cases checked%s, %d worse than expected, %d better"
          % (label, role, checked, skipped, len(problems), len(improved)))
    for line in problems:
        print("  WORSE   " + line)
    for line in improved:
        print("  BETTER  " + line)
    if improved:
        print("  (record the improvements with scripts/autobahn.sh --update)")
    return len(problems)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true")
    parser.add_argument("--skip", default="")
    parser.add_argument("expected")
    parser.add_argument("reports", nargs="+", metavar="ROLE[:PATTERNS]=REPORT_DIR")
    args = parser.parse_args()
    skip = patterns(args.skip)

    reports = []
    try:
        for spec in args.reports:
            head, sep, path = spec.partition("=")
            role, _, own = head.partition(":")
            if not sep or not path or role not in ("server", "client"):
                parser.error("reports are ROLE[:PATTERNS]=DIR with ROLE server or client: %r" % spec)
            reports.append((role, path, skip + patterns(own), load_report(path)))
        if args.update:
            if skip:
                parser.error("--update needs a full run (no skipped cases)")
            expected = {}
            for role, path, report_skip, cases in reports:
                if role in expected:
                    continue
                if report_skip:
                    parser.error("--update records each role from its first report, "
                                 "which skips %s: %s" % (",".join(report_skip), path))
                expected[role] = cases
            with open(args.expected, "w") as f:
                f.write(format_expected(expected))
            print("wrote %s" % args.expected)
        with open(args.expected) as f:
            expected = json.load(f)
    except (OSError, ValueError) as e:
        print("autobahn_compare.py: %s" % e, file=sys.stderr)
        return 2

    failures = 0
    for role, path, report_skip, cases in reports:
        if role not in expected:
            print("%s: no expected results for role %s" % (path, role))
            failures += 1
            continue
        failures += check(role, path, expected[role], cases, report_skip)
    print("conformance: %s" % ("as expected or better" if failures == 0 else "%d problems" % failures))
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
