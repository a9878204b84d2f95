"""The LinkedIn Marketing API client: OAuth, the one HTTP session, segments and batch upload.

Only this package speaks HTTP. The pipeline uses ``LinkedInSink``; a ``connection create``
command uses the OAuth functions.
"""

from td_output_linkedin.linkedin.auth import TokenGrant, authorization_url, exchange_code, refresh_access_token
from td_output_linkedin.linkedin.sink import CheckLine, LinkedInSink

__all__ = [
    "CheckLine",
    "LinkedInSink",
    "TokenGrant",
    "authorization_url",
    "exchange_code",
    "refresh_access_token",
]
