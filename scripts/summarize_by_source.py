"""Means of a `tinct eval` per_image.csv by photo source: the file-name prefix before "__" (the
shared pools name files SOURCE__NAME, e.g. bearpaw__0001.jpg for the street-people photos).

    python scripts/summarize_by_source.py docs/results/val-people/per_image.csv

Prints a markdown table: one row per (source, model), the mean of each metric (NaN left out).
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict

COLUMNS = ("psnr", "colorfulness", "colorfulness_truth", "ciede2000", "cast_a", "cast_b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("per_image_csv")
    args = parser.parse_args()
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    with open(args.per_image_csv, newline="") as f:
        for row in csv.DictReader(f):
            source = row["image"].split("/")[-1].split("__")[0]
            groups[(source, row["model"])].append(row)
    print("| source | model | photos | " + " | ".join(COLUMNS) + " |")
    print("|:---|:---|---:|" + "---:|" * len(COLUMNS))
    for (source, model), rows in groups.items():
        means = []
        for key in COLUMNS:
            values = [float(r[key]) for r in rows if r.get(key) not in (None, "") and not math.isnan(float(r[key]))]
            means.append(f"{sum(values) / len(values):.2f}" if values else "-")
        print(f"| {source} | {model} | {len(rows)} | " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
