"""What the end-to-end tests and the benchmarks share to run the service for real:

- processes.py: a clean child environment, process groups started and stopped, polling;
- dagster_api.py: GraphQL (runs, locations, sensors, backfills) and gRPC readiness;
- postgres.py: a fresh PostgreSQL database per test, the server lock for restart tests;
- compose.py: docker-compose.yml read as compose does, its services run as processes;
- dev.py: `dagster dev` as `make dev` runs it (end-to-end tests and benchmarks);
- telegram_html.py: what Telegram accepts as HTML;
- for in-process tests, imported by module (they load the code location): inprocess.py (a day's
  materialisation metadata, a local Telegram resource), training_rows.py, fixed_model.py and
  registry_models.py (small days, fits, dictated classifiers and published versions).

Imported as one namespace (`from retrain_assets_tests import support as ph`).
"""

from retrain_assets_tests.support.compose import (
    COMPOSE_INTERPOLATION,
    CONTAINER_HOME,
    DAGSTER_SERVICES,
    PARTITION_TAG,
    ComposeTopology,
    interpolate,
    load_compose,
    local_env,
    localise,
    read_env_file,
    service_command,
    service_env,
)
from retrain_assets_tests.support.dagster_api import (
    LOCATION_NAME,
    RETRAIN_ASSETS,
    LocationLoadError,
    backfill,
    client,
    graphql,
    launch_asset_backfill,
    run_error_messages,
    run_status,
    runs,
    stop_sensor,
    wait_graphql,
    wait_grpc,
    wait_location_loaded,
    wait_run,
)
from retrain_assets_tests.support.dev import DagsterDev, dagster_dev
from retrain_assets_tests.support.postgres import (
    PgDatabase,
    PgServer,
    fresh_pg_database,
    postgres_server_lock,
    postgres_unavailable_reason,
    require_postgres,
)
from retrain_assets_tests.support.processes import (
    REPO_ROOT,
    TERMINAL_RUN_STATUSES,
    GraphQLError,
    ProcessDied,
    Processes,
    bin_path,
    dagster_env,
    free_port,
    in_ci,
    poll,
    start,
    stop,
    wait_until,
)

__all__ = [
    "COMPOSE_INTERPOLATION", "CONTAINER_HOME", "DAGSTER_SERVICES", "LOCATION_NAME",
    "PARTITION_TAG", "REPO_ROOT", "RETRAIN_ASSETS", "TERMINAL_RUN_STATUSES", "ComposeTopology",
    "DagsterDev", "dagster_dev",
    "GraphQLError", "LocationLoadError", "PgDatabase", "PgServer", "ProcessDied", "Processes",
    "backfill", "bin_path", "client",
    "dagster_env", "fresh_pg_database", "free_port", "graphql", "in_ci", "interpolate",
    "launch_asset_backfill", "load_compose", "local_env", "localise", "poll",
    "postgres_server_lock", "postgres_unavailable_reason", "read_env_file", "require_postgres",
    "run_error_messages", "run_status", "runs", "service_command", "service_env", "start",
    "stop", "stop_sensor", "wait_graphql", "wait_grpc", "wait_location_loaded", "wait_run",
    "wait_until",
]  # fmt: skip
