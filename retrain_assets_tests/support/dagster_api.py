"""Talking to a running Dagster: GraphQL (runs, locations, sensors, backfills) and gRPC
readiness, each wait a condition with a generous ceiling."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from dagster_graphql import DagsterGraphQLClient

from retrain_assets_tests.support.processes import TERMINAL_RUN_STATUSES, GraphQLError, poll

LOCATION_NAME = "retrain_assets"
# The assets of the retraining op, in graph order: DESIGN.md's four and live_model_metrics.
RETRAIN_ASSETS = (
    "raw_dataset",
    "live_model_metrics",
    "trained_model",
    "evaluation_metrics",
    "deployed_model_version",
)


def graphql(
    url: str, query: str, variables: Mapping[str, Any] | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """POST a GraphQL query to ``{url}/graphql``; returns ``data`` or raises GraphQLError."""
    body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        # GraphQL validation errors come back as HTTP 400 with a JSON body.
        payload = json.loads(exc.read() or b"{}")
        if not payload.get("errors"):
            raise
    if payload.get("errors"):
        raise GraphQLError(json.dumps(payload["errors"])[:2000])
    return payload["data"]


def wait_graphql(url: str, timeout: float, alive: Callable[[], None] | None = None) -> str:
    """Wait until the webserver answers GraphQL; returns the Dagster version it reports."""

    def probe() -> str:
        return str(graphql(url, "{ version }", timeout=5)["version"])

    return poll(f"GraphQL at {url}", probe, timeout, alive)


_LOCATIONS_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { repositories { name jobs { name } } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


class LocationLoadError(RuntimeError):
    """The code location answered, with an error instead of definitions."""


def wait_location_loaded(
    url: str, location_name: str, timeout: float, alive: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Wait until ``location_name`` is LOADED; returns its entry (repositories and jobs).

    A location that loaded with an error raises LocationLoadError at once, with Dagster's message.
    """

    def probe() -> dict[str, Any] | None:
        workspace = graphql(url, _LOCATIONS_QUERY, timeout=10)["workspaceOrError"]
        if workspace["__typename"] != "Workspace":
            raise GraphQLError(str(workspace))
        for entry in workspace["locationEntries"]:
            if entry["name"] != location_name or entry["loadStatus"] != "LOADED":
                continue
            loaded = entry["locationOrLoadError"]
            if loaded and loaded["__typename"] == "PythonError":
                raise LocationLoadError(
                    f"code location {location_name!r} failed to load: {loaded['message']}\n"
                    + "".join(loaded.get("stack") or [])[-3000:]
                )
            return entry
        return None

    return poll(f"code location {location_name!r} at {url}", probe, timeout, alive)


def client(url: str) -> DagsterGraphQLClient:
    """Dagster's own GraphQL client, for what it covers (submit, run status, terminate); the
    queries it does not cover (runs by tag, logs, sensors, backfills) go through graphql()."""
    parts = urlsplit(url)
    return DagsterGraphQLClient(parts.hostname or "127.0.0.1", port_number=parts.port, timeout=30)


def run_status(url: str, run_id: str) -> str:
    return client(url).get_run_status(run_id).value


def wait_run(url: str, run_id: str, timeout: float, alive: Callable[[], None] | None = None) -> str:
    """Poll until the run reaches SUCCESS, FAILURE or CANCELED; returns that status."""

    def probe() -> str | None:
        status = run_status(url, run_id)
        return status if status in TERMINAL_RUN_STATUSES else None

    return poll(f"run {run_id} to finish", probe, timeout, alive, interval=0.5)


def run_error_messages(url: str, run_id: str) -> list[str]:
    """Step failures, failed checks and the run failure message: what to print when a run fails."""
    query = """
    query($id: ID!) {
      logsForRun(runId: $id, limit: 5000) {
        __typename
        ... on EventConnection {
          events {
            __typename
            ... on MessageEvent { message stepKey level }
            ... on ExecutionStepFailureEvent { error { message } }
            ... on RunFailureEvent { error { message } }
          }
        }
      }
    }
    """
    logs = graphql(url, query, {"id": run_id})["logsForRun"]
    if logs["__typename"] != "EventConnection":
        return [f"logsForRun: {logs}"]
    messages = []
    for event in logs["events"]:
        if event.get("level") in {"ERROR", "CRITICAL"} or event["__typename"].endswith(
            "FailureEvent"
        ):
            error = (event.get("error") or {}).get("message", "")
            messages.append(f"[{event.get('stepKey')}] {event.get('message')} {error}".strip())
    return messages


def wait_grpc(
    port: int, timeout: float, host: str = "127.0.0.1", alive: Callable[[], None] | None = None
) -> None:
    """Wait until a Dagster gRPC/code server reports SERVING on the standard gRPC health API.

    Same probe as `dagster api grpc-health-check`, without that client's printed tracebacks.
    """
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    def probe() -> bool | None:
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            try:
                response = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="DagsterApi"), timeout=2
                )
            except grpc.RpcError as exc:  # not listening yet
                raise OSError(str(exc.code())) from exc
        return True if response.status == health_pb2.HealthCheckResponse.SERVING else None

    poll(f"code server on {host}:{port}", probe, timeout, alive, interval=0.5)


_RUNS_QUERY = """
query($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId jobName status creationTime startTime endTime tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""


def runs(
    url: str,
    *,
    run_ids: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    job: str | None = None,
) -> list[dict[str, Any]]:
    """Runs as GraphQL reports them (newest first), ``tags`` flattened to a dict."""
    run_filter: dict[str, Any] = {}
    if job is not None:
        run_filter["pipelineName"] = job
    if run_ids is not None:
        run_filter["runIds"] = list(run_ids)
    if tags:
        run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    data = graphql(url, _RUNS_QUERY, {"filter": run_filter}, timeout=10)["runsOrError"]
    if data["__typename"] != "Runs":
        raise GraphQLError(f"runsOrError: {data}")
    return [{**run, "tags": {t["key"]: t["value"] for t in run["tags"]}} for run in data["results"]]


_BACKFILL_QUERY = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      partitionStatuses { results { partitionName runId runStatus } }
    }
    ... on PythonError { message }
  }
}
"""


def backfill(url: str, backfill_id: str) -> dict[str, Any]:
    """A backfill's status and its partitions' runs, as its page in the UI shows them."""
    data = graphql(url, _BACKFILL_QUERY, {"id": backfill_id}, timeout=10)
    found = data["partitionBackfillOrError"]
    if found["__typename"] != "PartitionBackfill":
        raise GraphQLError(f"backfill {backfill_id}: {found}")
    return found


_SENSOR_QUERY = """
query($sel: SensorSelector!) {
  sensorOrError(sensorSelector: $sel) {
    __typename ... on Sensor { id sensorState { status } }
  }
}
"""
_STOP_SENSOR = """
mutation($id: String!) {
  stopSensor(id: $id) {
    __typename ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message }
  }
}
"""
_LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}
"""


def stop_sensor(url: str, sensor: str, location: str = LOCATION_NAME) -> None:
    selector = {
        "repositoryLocationName": location,
        "repositoryName": "__repository__",
        "sensorName": sensor,
    }
    found = graphql(url, _SENSOR_QUERY, {"sel": selector})["sensorOrError"]
    if found["__typename"] != "Sensor":
        raise GraphQLError(f"sensorOrError: {found}")
    stopped = graphql(url, _STOP_SENSOR, {"id": found["id"]})["stopSensor"]
    if stopped["__typename"] != "StopSensorMutationResult":
        raise GraphQLError(f"stopSensor: {stopped}")


def launch_asset_backfill(
    url: str, assets: Sequence[str], partitions: Sequence[str], title: str = "backfill"
) -> str:
    """A backfill as the UI's Materialize -> partitions dialog launches it; returns its id.

    The backfill daemon then plans the runs from the assets' BackfillPolicy."""
    params = {
        "assetSelection": [{"path": [name]} for name in assets],
        "partitionNames": list(partitions),
        "title": title,
    }
    outcome = graphql(url, _LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if outcome["__typename"] != "LaunchBackfillSuccess":
        raise GraphQLError(f"launchPartitionBackfill: {outcome}")
    return outcome["backfillId"]
