"""The `retrain-assets` console script: the registry and backfills from a shell.

    retrain-assets list                          versions in semver order, the live one marked
    retrain-assets show [live|previous|VERSION]  a version's card
    retrain-assets verify [VERSION ...]          checksums and loads (every version by default)
    retrain-assets predict FILE [--version V] [--output OUT.csv|.parquet] [--proba]
    retrain-assets rollback VERSION|previous [--reason TEXT]
    retrain-assets prune [--keep K] [--dry-run]
    retrain-assets repair [--dry-run]           verify, list strays, rebuild current.json
    retrain-assets backfill --from DAY --to DAY [--url URL]

The registry is RETRAIN_REGISTRY_DIR / RETRAIN_MODEL_NAME, as the service uses them, unless
--registry / --model say otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from retrain_assets.cli import models
from retrain_assets.cli.backfill import days, launch_backfill
from retrain_assets.cli.errors import CliError
from retrain_assets.registry import RegistryError, open_registry
from retrain_assets.settings import SettingsError, model_name_problem, settings
from retrain_assets.text import first_line

__all__ = ["CliError", "days", "launch_backfill", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retrain-assets",
        description=__doc__.splitlines()[0],
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def registry_command(name: str, help: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help)
        command.add_argument("--registry", type=Path, help="default: RETRAIN_REGISTRY_DIR")
        command.add_argument("--model", help="default: RETRAIN_MODEL_NAME")
        return command

    registry_command("list", "versions in semver order, the live one marked")
    show = registry_command("show", "a version's card (default: the live version)")
    show.add_argument("version", nargs="?", default="live")
    verify = registry_command("verify", "check versions' checksums and load them")
    verify.add_argument("versions", nargs="*", help="default: every version")
    predict = registry_command("predict", "score a CSV or Parquet file")
    predict.add_argument("file", type=Path)
    predict.add_argument("--version", default="live", help="live (default), previous or X.Y.Z")
    predict.add_argument("--output", type=Path, help=".csv or .parquet (default: CSV to stdout)")
    predict.add_argument("--proba", action="store_true", help="add proba_<class> columns")
    rollback = registry_command("rollback", "make a verified version live again")
    rollback.add_argument("version", help="X.Y.Z or previous")
    rollback.add_argument("--reason", help="recorded in history.jsonl")
    prune = registry_command("prune", "delete versions beyond the last K live ones")
    prune.add_argument("--keep", type=int, default=None, help="default: RETRAIN_KEEP_VERSIONS")
    prune.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    repair = registry_command("repair", "verify, list strays, rebuild a broken current.json")
    repair.add_argument("--dry-run", action="store_true", help="report, change nothing")

    backfill = commands.add_parser("backfill", help="backfill retrain_job through the daemon")
    backfill.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
    backfill.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")
    backfill.add_argument(
        "--url",
        default=os.environ.get("DAGSTER_WEBSERVER_URL") or "http://127.0.0.1:3000",
        help="the Dagster webserver (default: DAGSTER_WEBSERVER_URL or http://127.0.0.1:3000)",
    )
    backfill.add_argument("--title", help="a title shown on the backfill page")
    return parser


def _run(args: argparse.Namespace) -> int:
    out = sys.stdout
    if args.command == "backfill":
        partitions = days(args.first, args.last)
        backfill_id = launch_backfill(args.url, partitions, args.title)
        out.write(
            f"backfill {backfill_id}: {len(partitions)} day(s) {partitions[0]}..{partitions[-1]}"
            f"; follow it at {args.url.rstrip('/')}/runs/b/{backfill_id}\n"
        )
        return 0
    problem = model_name_problem(args.model) if args.model is not None else None
    if problem:
        raise CliError(f"--model {args.model!r} {problem}")
    registry = open_registry(args.registry, args.model)
    if args.command == "list":
        return models.list_versions(registry, out)
    if args.command == "show":
        return models.show(registry, args.version, out)
    if args.command == "verify":
        return models.verify(registry, args.versions, out)
    if args.command == "predict":
        return models.predict(registry, args.file, args.version, args.output, args.proba, out)
    if args.command == "rollback":
        return models.rollback(registry, args.version, args.reason, out)
    if args.command == "repair":
        return models.repair(registry, args.dry_run, out)
    keep = settings().keep_versions if args.keep is None else args.keep
    return models.prune(registry, keep, args.dry_run, out)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except BrokenPipeError:  # `retrain-assets predict big.csv | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # FeatureMismatchError (serving) is a ValueError.
    except (CliError, RegistryError, SettingsError, ValueError) as exc:
        print(f"retrain-assets: {first_line(exc)}", file=sys.stderr)
        return 2
    except (OSError, RecursionError, KeyError, TypeError) as exc:
        # Anything else a damaged file or a bad path causes: one line, never a traceback.
        print(f"retrain-assets: {type(exc).__name__}: {first_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
