"""An in-process wallet shared by request handlers."""


class Wallet:
    def __init__(self, balance, audit):
        self.balance = balance
        self.audit = audit

    async def withdraw(self, amount):
        """Take `amount` out, refusing to overdraw."""
        if amount > self.balance:
            raise ValueError("insufficient funds")
        self.balance -= amount
