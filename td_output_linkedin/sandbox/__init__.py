"""A LinkedIn-compatible API emulator for trying the plugin, and for testing it, without LinkedIn.

It implements the Matched Audiences contract on its own and imports nothing from
``td_output_linkedin.linkedin``, so a misreading of the contract cannot hide in the client and here at once.
"""

from typing import Any

from td_output_linkedin.sandbox.options import SandboxCredentials, SandboxOptions

__all__ = ["Sandbox", "SandboxCredentials", "SandboxOptions"]


def __getattr__(name: str) -> Any:
    # The server is imported on first use, so that the program's other commands, which only
    # register the sandbox command's options, start without loading it.
    if name == "Sandbox":
        from td_output_linkedin.sandbox.server import Sandbox

        return Sandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
