#!/usr/bin/env python3
"""Tests of autobahn_compare.py: what passes, what fails. Run by autobahn.sh
before the comparison it guards."""
import contextlib
import importlib.util
import io
import json
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("compare", os.path.join(HERE, "autobahn_compare.py"))
compare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare)

OK = {"behavior": "OK", "behaviorClose": "OK"}
INFO = {"behavior": "INFORMATIONAL", "behaviorClose": "INFORMATIONAL"}
UNIMPL = {"behavior": "UNIMPLEMENTED", "behaviorClose": "OK"}
EXPECTED = {"1.1.1": OK, "7.1.6": INFO, "12.1.1": UNIMPL}


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.expected = os.path.join(self.tmp.name, "expected.json")
        with open(self.expected, "w") as f:
            f.write(compare.format_expected({"server": EXPECTED, "client": EXPECTED}))

    def report(self, cases, agents=("wsproto",)):
        path = tempfile.mkdtemp(dir=self.tmp.name)
        with open(os.path.join(path, "index.json"), "w") as f:
            json.dump({agent: cases for agent in agents}, f)
        return path

    def run_compare(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            argv = ["autobahn_compare.py", *args]
            old, compare.sys.argv = compare.sys.argv, argv
            try:
                status = compare.main()
            except SystemExit as e:  # argparse's errors (status 2)
                status = e.code
            finally:
                compare.sys.argv = old
        return status, out.getvalue()

    def test_the_expected_results_pass(self):
        status, out = self.run_compare(self.expected, "server=" + self.report(EXPECTED))
        self.assertEqual(status, 0, out)
        self.assertIn("3 cases checked, 0 worse than expected, 0 better", out)

    def test_failed_is_worse_whatever_was_expected(self):
        failed = {"behavior": "FAILED", "behaviorClose": "OK"}
        status, out = self.run_compare(self.expected, "server=" + self.report({**EXPECTED, "1.1.1": failed}))
        self.assertEqual(status, 1)
        self.assertIn("WORSE   1.1.1: behavior FAILED", out)

    def test_an_unknown_behavior_counts_as_failed(self):
        odd = {"behavior": "OK", "behaviorClose": "WRONG CODE"}
        status, out = self.run_compare(self.expected, "client=" + self.report({**EXPECTED, "1.1.1": odd}))
        self.assertEqual(status, 1)
        self.assertIn("1.1.1: behaviorClose WRONG CODE", out)

    def test_non_strict_where_ok_was_expected_is_worse(self):
        non_strict = {"behavior": "NON-STRICT", "behaviorClose": "OK"}
        status, out = self.run_compare(self.expected, "server=" + self.report({**EXPECTED, "1.1.1": non_strict}))
        self.assertEqual(status, 1)
        self.assertIn("1.1.1: behavior NON-STRICT, expected OK", out)

    def test_a_different_non_ok_outcome_is_worse(self):
        non_strict = {"behavior": "NON-STRICT", "behaviorClose": "INFORMATIONAL"}
        status, out = self.run_compare(self.expected, "server=" + self.report({**EXPECTED, "7.1.6": non_strict}))
        self.assertEqual(status, 1)
        self.assertIn("7.1.6: behavior NON-STRICT, expected INFORMATIONAL", out)

    def test_ok_where_unimplemented_was_expected_is_better_and_passes(self):
        status, out = self.run_compare(self.expected, "server=" + self.report({**EXPECTED, "12.1.1": OK}))
        self.assertEqual(status, 0, out)
        self.assertIn("BETTER  12.1.1: behavior OK, expected UNIMPLEMENTED", out)

    def test_a_missing_case_fails_unless_skipped(self):
        partial = {"1.1.1": OK, "7.1.6": INFO}
        status, out = self.run_compare(self.expected, "server=" + self.report(partial))
        self.assertEqual(status, 1)
        self.assertIn("12.1.1: missing from the report", out)
        status, out = self.run_compare("--skip", "12.*,13.*", self.expected, "server=" + self.report(partial))
        self.assertEqual(status, 0, out)

    def test_a_report_may_skip_cases_of_its_own(self):
        full = self.report(EXPECTED)
        partial = self.report({"1.1.1": OK, "7.1.6": INFO})
        status, out = self.run_compare(self.expected, "server=" + full, "server:12.*,13.*=" + partial)
        self.assertEqual(status, 0, out)
        self.assertIn("2 cases checked (skipped: 12.*,13.*), 0 worse", out)
        # ... and only that report: the same run without the skip fails.
        status, out = self.run_compare(self.expected, "server:12.*,13.*=" + full, "server=" + partial)
        self.assertEqual(status, 1)
        self.assertIn("12.1.1: missing from the report", out)

    def test_a_skipped_case_that_ran_is_still_checked(self):
        failed = {"behavior": "FAILED", "behaviorClose": "OK"}
        status, out = self.run_compare(self.expected, "server:12.*=" + self.report({**EXPECTED, "12.1.1": failed}))
        self.assertEqual(status, 1)
        self.assertIn("WORSE   12.1.1: behavior FAILED", out)

    def test_a_bad_report_argument_is_refused(self):
        for spec in ("server", "peer=x", "server:12.*=", ":12.*=x"):
            status, _ = self.run_compare(self.expected, spec)
            self.assertEqual(status, 2, spec)

    def test_a_case_not_expected_fails(self):
        status, out = self.run_compare(self.expected, "server=" + self.report({**EXPECTED, "1.1.2": OK}))
        self.assertEqual(status, 1)
        self.assertIn("1.1.2: not in the expected results", out)

    def test_every_report_is_checked(self):
        good = self.report(EXPECTED)
        bad = self.report({**EXPECTED, "1.1.1": INFO})
        status, out = self.run_compare(self.expected, "server=" + good, "server=" + bad, "client=" + good)
        self.assertEqual(status, 1)
        self.assertEqual(out.count("WORSE"), 2, out)  # behavior and behaviorClose of one case

    def test_a_report_with_two_agents_is_unreadable(self):
        status, _ = self.run_compare(self.expected, "server=" + self.report(EXPECTED, agents=("a", "b")))
        self.assertEqual(status, 2)

    def test_update_records_the_run_and_still_rejects_failures(self):
        run = {**EXPECTED, "12.1.1": OK}
        status, _ = self.run_compare("--update", self.expected, "server=" + self.report(run), "client=" + self.report(run))
        self.assertEqual(status, 0)
        with open(self.expected) as f:
            self.assertEqual(json.load(f)["server"]["12.1.1"], OK)
        failed = {**EXPECTED, "1.1.1": {"behavior": "FAILED", "behaviorClose": "FAILED"}}
        status, _ = self.run_compare("--update", self.expected, "server=" + self.report(failed))
        self.assertEqual(status, 1)

    def test_update_records_each_role_from_its_first_report_which_must_be_full(self):
        run = {**EXPECTED, "12.1.1": OK}
        without_compression = self.report({"1.1.1": OK, "7.1.6": INFO})
        status, out = self.run_compare("--update", self.expected, "server=" + self.report(run),
                                       "server:12.*,13.*=" + without_compression, "client=" + self.report(run))
        self.assertEqual(status, 0, out)
        with open(self.expected) as f:
            recorded = json.load(f)
        self.assertEqual(recorded["server"], run)
        self.assertEqual(recorded["client"], run)
        with open(self.expected) as f:
            before = f.read()
        status, out = self.run_compare("--update", self.expected, "server:12.*,13.*=" + without_compression,
                                       "server=" + self.report(run))
        self.assertEqual(status, 2)
        self.assertIn("which skips 12.*,13.*", out)
        with open(self.expected) as f:
            self.assertEqual(f.read(), before)
        status, out = self.run_compare("--update", "--skip", "9.*", self.expected, "server=" + self.report(run))
        self.assertEqual(status, 2)
        self.assertIn("--update needs a full run", out)


if __name__ == "__main__":
    unittest.main()
