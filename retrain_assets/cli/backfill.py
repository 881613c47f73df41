"""`retrain-assets backfill`: launch a backfill of retrain_job through the daemon.

    retrain-assets backfill --from 2026-02-01 --to 2026-02-28 [--url http://127.0.0.1:3000]

`dagster job backfill` submits one run per day itself and marks the backfill completed at once;
Dagster 1.13's backfill page then cannot show its partition statuses for a job whose assets
batch days. This command asks the webserver for the same backfill the job page's Backfill
button makes: the daemon runs the days in batches of up to 100, in order, and the backfill
page shows every day's status and the backfill's real end state.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from retrain_assets.cli.errors import CliError

LOCATION = "retrain_assets"
PARTITION_SET = "retrain_job_partition_set"
LAUNCH = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on PartitionSetNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}
"""


def days(first: str, last: str) -> list[str]:
    try:
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError as exc:
        raise CliError(f"--from/--to must be dates (YYYY-MM-DD): {exc}") from None
    if end < start:
        raise CliError(f"--to {last} is before --from {first}")
    return [(start + dt.timedelta(days=k)).isoformat() for k in range((end - start).days + 1)]


def graphql(url: str, query: str, variables: dict[str, Any], timeout: float = 60) -> Any:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(f"cannot reach the Dagster webserver at {url}: {exc}") from None
    if payload.get("errors"):
        raise CliError(f"the webserver refused the request: {payload['errors'][0]['message']}")
    return payload["data"]


def launch_backfill(url: str, partitions: Sequence[str], title: str | None = None) -> str:
    params: dict[str, Any] = {
        "selector": {
            "partitionSetName": PARTITION_SET,
            "repositorySelector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
            },
        },
        "partitionNames": list(partitions),
        "fromFailure": False,
    }
    if title:
        params["title"] = title
    outcome = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if outcome["__typename"] != "LaunchBackfillSuccess":
        detail = outcome.get("message") or outcome["__typename"]
        raise CliError(f"the backfill was not launched: {detail.strip().splitlines()[0]}")
    return outcome["backfillId"]
