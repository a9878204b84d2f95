"""Generate realistic contact rows, deterministically, as csv and msgpack.gz.

Each row presents one person. A person's fields are a pure function of the seed and the person's
number, so a duplicate row can present a person from anywhere earlier in the file without the
generator remembering anything: memory stays flat at any row count.

The mix, by design (the generated counts are written next to each file as ``*.counts.json``):

- about 5% of rows repeat an earlier person, sometimes with the email in another letter case,
  with surrounding spaces, or hashed where the first row had it plain;
- about 2% of rows are invalid, because the person has no usable identifier (a malformed
  email, or a first name without a last name);
- of the valid persons, about 3% have no email and are identified by first and last name, and
  the rest have an email. The email is given plain in about 75% of rows, as a SHA-256 digest
  in about 20% and as a SHA-512 digest in about 5%;
- about 10% of rows carry a Google advertising id, some countries are not assigned ISO codes,
  and ``customer_id`` is a column the job ignores.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import msgpack

COLUMNS = ("email", "first_name", "last_name", "title", "company", "country", "google_aid", "customer_id")
DEFAULT_SEED = 20260509

DUPLICATE_RATE = 0.05
# Persons whose number is 7 modulo this have no usable identifier (2% of persons).
INVALID_EVERY = 50
NAME_ONLY_EVERY = 33
SHA256_RATE = 0.20
SHA512_RATE = 0.05
GOOGLE_AID_RATE = 0.10

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Björn", "José", "Zoë", "Chloé", "Søren", "Ngozi", "Hiroshi", "Priya", "Mateo", "Olga",
    "Aisha", "Wei", "Fatima", "Lars", "Ana", "Sven", "Yuki", "Omar", "Elena", "Raj",
)
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
    "Dijkstra", "Nguyen", "García", "Müller", "Kowalski", "O'Brien", "Smith", "Tanaka", "Okafor",
    "Ivanova", "Rossi", "Johansson", "Dubois", "Kim", "Patel", "Silva", "Andersen", "Novak", "Chen",
)
TITLES = (
    "Data Engineer", "CTO", "Marketing Manager", "VP Sales", "Account Executive", "Analyst",
    "Product Manager", "Head of Growth", "Software Engineer", "Chief Executive Officer", "",
)
COMPANIES = (
    "Acme Analytics", "Globex", "Initech", "Umbrella Corp", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Industries", "Soylent", "Tyrell", "Cyberdyne Systems", "",
)
# Mostly assigned codes in any letter case; "UK" and "EU" are not assigned and are left out of elements.
COUNTRIES = ("US", "us", "GB", "DE", "fr", "JP", "IN", "BR", "CA", "AU", "NL", "SE", "UK", "EU", "")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com", "corp.example.co.jp")

_MASK64 = (1 << 64) - 1


@dataclass
class Counts:
    """Row counts of a generated file, by construction."""

    rows: int = 0
    # Rows that present an earlier valid person again. A repeat whose email is hashed with another
    # algorithm than before is a different element to the plugin, so the job counts fewer duplicates.
    repeated_rows: int = 0
    invalid_rows: int = 0
    email_plain: int = 0
    email_sha256: int = 0
    email_sha512: int = 0
    name_only: int = 0


def generate(rows: int, seed: int = DEFAULT_SEED, *, with_invalid: bool = True) -> Iterator[tuple[str, ...]]:
    """Yield ``rows`` rows in ``COLUMNS`` order; the same arguments always give the same rows."""
    yield from _generate(rows, seed, with_invalid, Counts())


def write_files(
    rows: int, directory: Path, *, seed: int = DEFAULT_SEED, with_invalid: bool = True, msgpack_copy: bool = True
) -> dict[str, Path]:
    """Write ``contacts-<rows>[-valid].csv`` (and ``.msgpack.gz``) into ``directory``, unless present.

    Files are written under a temporary name and renamed at the end, so an interrupted run never
    leaves a truncated file that a later run would reuse.
    """
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"contacts-{rows}" + ("" if with_invalid else "-valid")
    paths = {"csv": directory / f"{stem}.csv", "counts": directory / f"{stem}.counts.json"}
    if msgpack_copy:
        paths["msgpack"] = directory / f"{stem}.msgpack.gz"
    if all(path.exists() for path in paths.values()):
        return paths

    counts = Counts()
    partial = {kind: path.with_name(path.name + ".partial") for kind, path in paths.items()}
    with open(partial["csv"], "w", encoding="utf-8", newline="") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(COLUMNS)
        packed = gzip.open(partial["msgpack"], "wb", compresslevel=6) if msgpack_copy else None
        try:
            packer = msgpack.Packer()
            for row in _generate(rows, seed, with_invalid, counts):
                writer.writerow(row)
                if packed is not None:
                    packed.write(packer.pack(dict(zip(COLUMNS, row))))
        finally:
            if packed is not None:
                packed.close()
    partial["counts"].write_text(json.dumps(asdict(counts), indent=2) + "\n", encoding="utf-8")
    for kind, path in paths.items():
        os.replace(partial[kind], path)
    return paths


def _generate(rows: int, seed: int, with_invalid: bool, counts: Counts) -> Iterator[tuple[str, ...]]:
    rng = random.Random(seed)
    random_value = rng.random
    for index in range(rows):
        counts.rows += 1
        person = index
        if index and random_value() < DUPLICATE_RATE:
            person = int(random_value() * index)
            if not (with_invalid and _is_invalid(person)):
                counts.repeated_rows += 1
        yield _person_row(person, seed, with_invalid, random_value(), random_value(), counts)


def _person_row(
    person: int, seed: int, with_invalid: bool, form: float, noise: float, counts: Counts
) -> tuple[str, ...]:
    """Build one row for ``person``, whose number fixes the identity while ``form`` and ``noise`` pick its spelling."""
    bits = _mix(person * 0x9E3779B97F4A7C15 + seed)
    first_name = FIRST_NAMES[bits % len(FIRST_NAMES)]
    last_name = LAST_NAMES[(bits >> 8) % len(LAST_NAMES)]
    title = TITLES[(bits >> 16) % len(TITLES)]
    company = COMPANIES[(bits >> 24) % len(COMPANIES)]
    country = COUNTRIES[(bits >> 32) % len(COUNTRIES)]
    domain = DOMAINS[(bits >> 40) % len(DOMAINS)]
    customer_id = str(100000 + person)
    local_part = f"{_ascii(first_name)}.{_ascii(last_name)}{person}"
    google_aid = _uuid(bits) if (bits >> 48) % 100 < GOOGLE_AID_RATE * 100 else ""

    if with_invalid and _is_invalid(person):
        counts.invalid_rows += 1
        if (bits >> 56) & 1:
            # A malformed email and no last name: nothing identifies the person.
            return (f"{local_part}.{domain}", first_name, "", title, company, country, "", customer_id)
        return ("", first_name, "", title, company, country, "", customer_id)

    if person % NAME_ONLY_EVERY == 5:
        counts.name_only += 1
        return ("", first_name, last_name, title, company, country, "", customer_id)

    email = f"{local_part}@{domain}"
    if form < SHA256_RATE:
        counts.email_sha256 += 1
        email = hashlib.sha256(email.lower().encode()).hexdigest()
        if noise < 0.3:
            email = email.upper()
    elif form < SHA256_RATE + SHA512_RATE:
        counts.email_sha512 += 1
        email = hashlib.sha512(email.lower().encode()).hexdigest()
    else:
        counts.email_plain += 1
        if noise < 0.1:
            email = f"  {email.upper()} "
        elif noise < 0.4:
            email = email.capitalize()
    return (email, first_name, last_name, title, company, country, google_aid, customer_id)


def _is_invalid(person: int) -> bool:
    return person % INVALID_EVERY == 7


def _mix(value: int) -> int:
    """SplitMix64's finalizer: spreads a counter's bits over all 64 bits."""
    value &= _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _uuid(bits: int) -> str:
    text = f"{_mix(bits):016x}{_mix(bits + 1):016x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _ascii(name: str) -> str:
    return name.encode("ascii", "ignore").decode().replace("'", "").lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write deterministic contact rows for the benchmark.")
    parser.add_argument("--rows", type=int, required=True, help="number of rows to write")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("data"), help="directory (default bench/data)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed; the same seed gives the same rows")
    parser.add_argument("--valid-only", action="store_true", help="leave out the invalid rows")
    parser.add_argument("--csv-only", action="store_true", help="skip the msgpack.gz copy")
    args = parser.parse_args(argv)
    paths = write_files(
        args.rows, args.out, seed=args.seed, with_invalid=not args.valid_only, msgpack_copy=not args.csv_only
    )
    for path in paths.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
