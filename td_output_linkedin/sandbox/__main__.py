"""``python -m td_output_linkedin.sandbox``: the sandbox command without the plugin's main CLI."""

import argparse
import sys

from td_output_linkedin.sandbox.cli import add_sandbox_arguments, run_sandbox_command

parser = argparse.ArgumentParser(
    prog="python -m td_output_linkedin.sandbox",
    description="Run a LinkedIn-compatible Matched Audiences API on 127.0.0.1 until stopped.",
)
add_sandbox_arguments(parser)
sys.exit(run_sandbox_command(parser.parse_args()))
