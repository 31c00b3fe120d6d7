from slipway_cli.main import run

run()
