"""Slipway's Azure Functions app: the table of contents of every entry point.

Each trigger module holds one Blueprint; logic lives in `core/`. The same file runs under the real
Functions host in Azure and under `slipway_host` locally.
"""

import azure.functions as func

from triggers import event_worker, http_api, maintenance, run_worker, tasks_api, webhooks

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(http_api.bp)  # HTTP API: contexts, quick builds, runs, logs, cancel
app.register_functions(tasks_api.bp)  # HTTP API: tasks and their timers
app.register_functions(run_worker.bp)  # queue "runs": the worker; "runs-poison": give up cleanly
app.register_functions(webhooks.bp)  # GitHub webhooks and registry notifications (signature/token auth)
app.register_functions(event_worker.bp)  # queue "events": decide which tasks run, start their runs
app.register_functions(maintenance.bp)  # timers: task schedules; reap runs whose worker died
