"""Command history kept in memory."""


class History:
    """The commands a user ran, oldest first."""

    def __init__(self):
        self.entries = []

    def add(self, command):
        self.entries.append(command)
