"""A Parley algorithm: the count and mean of one numeric column of a CSV dataset.

It runs at each site inside Parley's sandbox: no network, a read-only file system, the site's
dataset mounted read-only under /data. What it outputs goes (sealed) to the run's requester.

Try it here first:  parley algorithm test . --dataset patients=samples/patients.csv --args '{"column": "lab_value"}'
"""
import csv
import math
import os

import parley

dataset = parley.args.get("dataset", "patients")
column = parley.args["column"]  # the manifest's args schema makes it required

# A dataset is a file, or a directory holding one CSV.
path = parley.data_path(dataset)
if os.path.isdir(path):
    path = os.path.join(path, parley.args.get("file", "registry.csv"))

values = []
with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    if column not in (reader.fieldnames or []):
        parley.fail("The dataset has no column named in args.column.")  # never print a value
    for row in reader:
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            continue  # a missing or malformed cell is left out
        if math.isfinite(value):
            values.append(value)

# The site's disclosure threshold: no aggregate over fewer rows leaves the site.
if len(values) < parley.min_rows():
    parley.fail("Too few rows with a value to release an aggregate (below the site's disclosure threshold).")

parley.output({"count": len(values), "mean": sum(values) / len(values)})
