"""Result-output plugin that writes query result rows into LinkedIn Matched Audiences DMP segments."""

__version__ = "0.1.0"
