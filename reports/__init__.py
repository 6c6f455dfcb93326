"""Reports and the leaderboard, built from a run's results folder (filled by the reports issue)."""
