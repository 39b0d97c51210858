"""Normal equations of a linear regression over this site's rows, for a secure sum.

With X the design matrix (an intercept, then args.predictors, then args.indicators as 0/1) and
y args.outcome, over the rows where every one of those cells is a number, this writes

    n, yᵀy, Xᵀy (p values), the upper triangle of XᵀX (p(p+1)/2 values, row by row)

as fixed-point integers (round(v · 10^decimals)) to the run volume as {layout, values}, the
format Parley's secure sums add. Summed over the sites they are the pooled normal equations,
so the researcher's solve gives the pooled least-squares fit (to within the rounding, below
10^-decimals per site per value). Rows missing a cell are left out, as in a complete-case fit.
"""
import csv
import os

import numpy as np

import parley

args = parley.args
dataset = args.get("dataset", "patients")
outcome = args["outcome"]
predictors = list(args["predictors"])
indicators = list(args.get("indicators", []))
decimals = int(args.get("decimals", 6))
values_file = args.get("values", "normal-equations.json")

path = parley.data_path(dataset)
if os.path.isdir(path):
    path = os.path.join(path, args.get("file", "registry.csv"))

with open(path, newline="", encoding="utf-8") as f:
    reader = csv.DictReader(f)
    columns = set(reader.fieldnames or [])
    for name in [outcome, *predictors, *(i["column"] for i in indicators)]:
        if name not in columns:
            parley.fail("The dataset lacks a column the args name (outcome, predictors or indicators).")
    rows = []
    ids = []
    for record in reader:
        try:
            x = [1.0] + [float(record[c]) for c in predictors]
            y = float(record[outcome])
        except (TypeError, ValueError):
            continue  # a missing or malformed cell: the row is not a complete case
        if not all(np.isfinite(x)) or not np.isfinite(y):
            continue
        x += [1.0 if (record[i["column"]] or "").strip() == i["equals"] else 0.0 for i in indicators]
        rows.append(x + [y])
        ids.append(record.get("patient_id") or str(len(ids)))

# The site's disclosure threshold: no aggregate over fewer rows leaves the site.
if len(rows) < parley.min_rows():
    parley.fail("Too few complete rows to release normal equations (below the site's disclosure threshold).")

data = np.asarray(rows, dtype=np.float64)
X, y = data[:, :-1], data[:, -1]
xtx = X.T @ X
xty = X.T @ y
upper = xtx[np.triu_indices(X.shape[1])]
scale = 10 ** decimals
flat = np.concatenate([[len(rows), y @ y], xty, upper])
values = [str(int(round(v * scale))) for v in flat.tolist()]

# The rows this release rests on, for the site's release ledger (it refuses a near-duplicate).
if "patient_id" in columns:
    parley.report_cohort(dataset, ids)
names = ["intercept", *predictors, *("%s=%s" % (i["column"], i["equals"]) for i in indicators)]
parley.write_volume_json(values_file, {
    "layout": {
        "kind": "normal-equations", "outcome": outcome, "terms": names, "decimals": decimals,
        # Which terms are 0/1: the site checks both sides of each against its disclosure threshold.
        "indicators": list(range(1 + len(predictors), len(names))),
        "order": ["n", "yty", "xty", "xtx-upper"],
    },
    "values": values,
})
