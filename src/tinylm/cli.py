"""The `tinylm` command: doctor, release, grade (more sub-commands join as chapters land)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tinylm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("doctor", help="check every dependency; paste the output into bug reports")

    release = sub.add_parser("release", help="write labs/ from solutions/")
    release.add_argument("--check", action="store_true",
                         help="exit non-zero if labs/ differs from a fresh release")
    release.add_argument("--root", default=".", help="repository root (default: .)")

    grade = sub.add_parser("grade", help="grade a student's lab notebook")
    grade.add_argument("path", help="the student's notebook, e.g. labs/01-ngrams-lab.ipynb")
    grade.add_argument("--json", dest="json_out", default=None, help="also write results here")
    grade.add_argument("--timeout", type=float, default=60.0, help="seconds per cell (default 60)")
    grade.add_argument("--root", default=".", help="repository root holding solutions/")

    zoo = sub.add_parser("zoo", help="the model zoo: train, list, verify")
    from tinylm.zoo import add_arguments as zoo_arguments
    zoo_arguments(zoo)

    args = parser.parse_args(argv)
    if args.command == "doctor":
        from tinylm.doctor import main as doctor
        return doctor()
    if args.command == "release":
        from tinylm.grading.release import main as release_main
        return release_main(root=args.root, check=args.check)
    if args.command == "grade":
        from tinylm.grading.grade import main as grade_main
        return grade_main(args.path, json_out=args.json_out, timeout=args.timeout, root=args.root)
    if args.command == "zoo":
        from tinylm.zoo import run as zoo_run
        return zoo_run(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
