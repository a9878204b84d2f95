"""A LinkedIn-compatible API emulator for trying the plugin, and for testing it, without LinkedIn.

It implements the Matched Audiences contract on its own and imports nothing from
``td_output_linkedin.linkedin``, so a misreading of the contract cannot hide in the client and here at once.
"""

from td_output_linkedin.sandbox.options import SandboxCredentials, SandboxOptions
from td_output_linkedin.sandbox.server import Sandbox

__all__ = ["Sandbox", "SandboxCredentials", "SandboxOptions"]
