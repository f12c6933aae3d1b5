"""Command history kept in memory."""


class History:
    """The commands a user ran, oldest first."""

    def __init__(self):
        self.entries = []

    def add(self, command):
        self.entries.append(command)

    def last_n(self, n):
        """The n most recent commands, oldest first."""
        return self.entries[len(self.entries) - n - 1 :]
