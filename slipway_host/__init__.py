"""A local Azure Functions host for Python v2 apps (`function_app.py`), for when Core Tools is absent.

It indexes the app the way the Python worker does and serves each function from its own binding
metadata, with no knowledge of the app itself:

- `config`       app settings, local.settings.json, host.json (+ `AzureFunctionsJobHost__*` overrides),
                 `%Setting%` resolution, TimeSpan parsing
- `loader`       imports the script, finds the one `FunctionRegister`, describes each function
- `invocation`   binds arguments (trigger, `context`, `func.Out`), runs sync functions on a thread
                 pool and async ones on the loop, flushes output bindings
- `routes`       HTTP route templates (`runs/{runId}`, `{name?}`, `{*rest}`, `{id:int}`)
- `http_server`  the ASGI callable that uvicorn serves
- `clock`        system and manual clocks
- `timers`       NCRONTAB timers (`core.cron`), run-on-startup, schedule monitor / past-due
- `queue_storage` queue-storage port, Azure adapter, in-memory fake
- `queues`       queue trigger (batching, lease renewal, retries, poison queue) and queue outputs
- `host`         `FunctionsHost`: composes the above; start/stop
- `serve`        uvicorn + signals + readiness line; `__main__` is the command line

Run it with `python -m slipway_host serve --app-dir DIR --port 7071`.
"""
