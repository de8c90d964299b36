"""Runs every Python client suite (unittest discovery of test_*.py in this folder) with verbose output.

Usage: python3 tests/clients/python/run.py [--summary FILE] [-k PATTERN ...] [test_module_or_name ...]

--summary FILE writes {"passed": N, "failed": M, "skipped": K} for scripts/test.sh to add up (errors count as
failures; an expected failure counts as passed, an unexpected success as failed). Exit code 0 iff nothing failed.
"""

import argparse
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--summary")
    parser.add_argument("-k", action="append", dest="patterns", default=None,
                        help="only tests whose name contains this substring (unittest -k semantics)")
    parser.add_argument("names", nargs="*", help="modules or dotted test names; default: discover test_*.py")
    args = parser.parse_args()

    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in args.patterns]
    if args.names:
        suite = loader.loadTestsFromNames(args.names)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)

    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, buffer=False)
    result = runner.run(suite)

    # A test with several failing subTests counts once; a setUpModule/setUpClass error or skip is reported on a
    # placeholder (_ErrorHolder) whose tests never ran, and counts as one failure or one skip.
    def test_id(t):
        return t.test_case.id() if hasattr(t, "test_case") else t.id()

    def is_holder(t):
        return type(t).__name__ == "_ErrorHolder"

    bad = [t for t, _ in result.failures + result.errors] + list(result.unexpectedSuccesses)
    failed_ids = {test_id(t) for t in bad}
    failed_real = {test_id(t) for t in bad if not is_holder(t)}
    skipped_real = {test_id(t) for t, _ in result.skipped if not is_holder(t)} - failed_real
    failed = len(failed_ids)
    skipped = len(skipped_real) + sum(1 for t, _ in result.skipped if is_holder(t))
    passed = max(result.testsRun - len(failed_real) - len(skipped_real), 0)
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump({"passed": passed, "failed": failed, "skipped": skipped}, f)
    print(f"python client suites: {passed} ok, {failed} not ok, {skipped} skipped")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
