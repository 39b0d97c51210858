"""Runs this algorithm once under Parley's sandbox on the sample dataset and checks its output
against the same computation done here. Run it with `python3 main.test.py` (it calls
`parley algorithm test`, so build first: `parley algorithm build .`)."""
import csv
import json
import os
import shlex
import subprocess
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "samples", "patients.csv")
PARLEY = shlex.split(os.environ.get("PARLEY", "npx parley"))


class AlgorithmTest(unittest.TestCase):
    def test_outputs_the_count_and_mean_of_the_column(self):
        run = subprocess.run(
            PARLEY + ["algorithm", "test", HERE, "--dataset", "patients=" + SAMPLE, "--args", json.dumps({"column": "lab_value"}), "--json"],
            capture_output=True, text=True, check=False,
        )
        self.assertEqual(run.returncode, 0, run.stderr)
        result = json.loads(run.stdout.strip().splitlines()[-1])
        with open(SAMPLE, newline="") as f:
            values = [float(r["lab_value"]) for r in csv.DictReader(f)]
        self.assertEqual(result["output"]["count"], len(values))
        self.assertAlmostEqual(result["output"]["mean"], sum(values) / len(values))


if __name__ == "__main__":
    unittest.main()
