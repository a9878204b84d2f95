"""The floor: the least work any plugin must do per row, in plain Python.

The loop reads the csv, trims and lower-cases the email and hashes it with SHA-256. It builds the
element with the row's other fields as they are, and encodes each batch of 5,000 elements as JSON
with orjson, the encoder the LinkedIn client uses for request bodies. There is no validation,
logging or deduplication, so every row becomes an element, even an invalid one or an email that
is already a digest.

Prints one JSON line: rows, batches and bytes encoded, so a caller can check the loop did the work.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys

import orjson

BATCH_SIZE = 5000


def run_floor(path: str) -> dict[str, int]:
    rows = 0
    batches = 0
    encoded_bytes = 0
    sha256 = hashlib.sha256
    dumps = orjson.dumps
    elements: list[dict[str, object]] = []

    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        email = header.index("email")
        first_name = header.index("first_name")
        last_name = header.index("last_name")
        title = header.index("title")
        company = header.index("company")
        country = header.index("country")

        for row in reader:
            digest = sha256(row[email].strip().lower().encode()).hexdigest()
            elements.append(
                {
                    "action": "ADD",
                    "userIds": [{"idType": "SHA256_EMAIL", "idValue": digest}],
                    "firstName": row[first_name],
                    "lastName": row[last_name],
                    "title": row[title],
                    "company": row[company],
                    "country": row[country],
                }
            )
            rows += 1
            if len(elements) == BATCH_SIZE:
                encoded_bytes += len(dumps({"elements": elements}))
                batches += 1
                elements = []

    if elements:
        encoded_bytes += len(dumps({"elements": elements}))
        batches += 1
    return {"rows": rows, "batches": batches, "encoded_bytes": encoded_bytes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the floor loop over a benchmark csv.")
    parser.add_argument("csv", help="a csv written by bench/generate.py")
    args = parser.parse_args(argv)
    print(json.dumps(run_floor(args.csv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
