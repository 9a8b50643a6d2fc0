"""Tests for report.py: python3 -B -m unittest discover -s bench -p '*_test.py'"""

import json
import unittest

import report

LAUNCH = json.dumps({"results": [
    {"command": "plain", "mean": 0.0006, "stddev": 0.0001, "median": 0.0005, "min": 0.0004, "max": 0.001,
     "times": [0.0005] * 3},
    {"command": "sandbox", "mean": 0.004, "stddev": 0.0005, "median": 0.003, "min": 0.0025, "max": 0.01,
     "user": 0.002, "system": 0.003, "times": [0.003] * 3},
    {"command": "bwrap", "mean": 0.005, "stddev": None, "median": 0.004, "min": 0.0035, "max": 0.02, "user": 0.001, "system": 0.001,
     "times": [0.004] * 3},
]})

THROUGHPUT = """
sandbox 1 400 100.0 102.0
sandbox 2 400 200.0 201.0
bwrap 1 400 300.0 304.0
bwrap 2 400 400.0 402.5
unshare 2 400 500.0 501.0
sandbox-batch 2 400 600.0 600.5
"""


class ParseTest(unittest.TestCase):
    def test_launch(self):
        got = report.parse_launch(LAUNCH)
        self.assertEqual(list(got), ["plain", "sandbox", "bwrap"])
        self.assertEqual(got["sandbox"]["median"], 0.003)
        self.assertEqual(got["bwrap"]["stddev"], 0.0)  # hyperfine writes null for one run
        self.assertEqual(got["plain"]["runs"], 3)
        self.assertAlmostEqual(got["sandbox"]["cpu"], 0.005)
        self.assertEqual(got["plain"]["cpu"], 0.0)  # no user/system fields

    def test_throughput(self):
        got = report.parse_throughput(THROUGHPUT)
        self.assertAlmostEqual(got[("sandbox", 1)], 200.0)
        self.assertAlmostEqual(got[("bwrap", 2)], 160.0)
        self.assertEqual(len(got), 6)

    def test_throughput_errors(self):
        for name, text in [
            ("too few fields", "sandbox 1 400 1.0"),
            ("end before start", "sandbox 1 400 5.0 4.0"),
            ("not a number", "sandbox x 400 1.0 2.0"),
        ]:
            with self.subTest(name):
                with self.assertRaises(ValueError):
                    report.parse_throughput(text)

    def test_seccomp_keeps_minimum(self):
        got = report.parse_seccomp("default getppid 90\noff getppid 70\ndefault getppid 80\noff getppid 75\n")
        self.assertEqual(got, {"default": {"getppid": 80.0}, "off": {"getppid": 70.0}})

    def test_format_seccomp(self):
        sc = report.parse_seccomp("off ioctl 100\nallow-all ioctl 130\ndefault ioctl 150\n"
                                  "default read 90\n")  # read has no "off": no row
        out = report.format_seccomp(sc).splitlines()
        self.assertEqual(len(out), 2)
        self.assertEqual(out[1].split(), ["ioctl", "100.0", "130.0", "150.0", "+50.0"])


class RatioTest(unittest.TestCase):
    def test_ratios(self):
        launch = report.parse_launch(LAUNCH)
        tp = report.parse_throughput(THROUGHPUT)
        self.assertAlmostEqual(report.launch_ratio(launch), 0.75)
        self.assertAlmostEqual(report.cpu_ratio(launch), 0.005 / 0.002)
        cpu = report.parse_cpu("plain 0.5\nsetpriv-true 1.5\nsandbox 9.0\nbwrap 5.0\n")
        self.assertEqual(cpu, {"sandbox": 8.0, "bwrap": 4.0})
        self.assertAlmostEqual(report.cpu_ratio(launch, cpu), 2.0)
        self.assertEqual(report.parse_cpu(""), {})
        self.assertEqual(report.throughput_ratios(tp, "sandbox-batch"), {2: 800.0 / 160.0})
        r = report.throughput_ratios(tp)
        self.assertEqual(sorted(r), [1, 2])  # unshare alone at -P2 makes no ratio
        self.assertAlmostEqual(r[1], 200.0 / 100.0)
        self.assertAlmostEqual(r[2], 400.0 / 160.0)

    def test_verdict(self):
        cases = [
            (0.75, 0.75, True, "met"),
            (0.76, 0.75, True, "MISSED"),
            (2.0, 2.0, False, "met"),
            (1.9, 2.0, False, "MISSED"),
        ]
        for value, target, at_most, want in cases:
            with self.subTest(value=value, target=target):
                self.assertEqual(report.verdict(value, target, at_most), want)

    def test_format_ratios_names_targets(self):
        out = report.format_ratios(report.parse_launch(LAUNCH), report.parse_throughput(THROUGHPUT))
        self.assertIn("launch ratio sandbox/bwrap (median): 0.75 (target <= 1: met)", out)
        self.assertIn("CPU per launch ratio sandbox/bwrap: 2.50 (target <= 2: MISSED)", out)
        self.assertIn("throughput ratio sandbox/bwrap -P2: 2.50x (no target)", out)
        self.assertIn("throughput ratio sandbox batch -j2/bwrap -P2: 5.00x (target >= 2: met)", out)


if __name__ == "__main__":
    unittest.main()
