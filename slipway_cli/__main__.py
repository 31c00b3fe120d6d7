import sys

from slipway_cli.main import main

sys.exit(main())
