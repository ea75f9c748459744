"""Deploying the leaderboard as a Hub Space: the folder (`folder.py`) and the Hub calls (`hub.py`)."""
