"""An in-process wallet shared by request handlers."""


class Wallet:
    def __init__(self, balance, audit):
        self.balance = balance
        self.audit = audit

    async def withdraw(self, amount):
        """Take `amount` out, refusing to overdraw."""
        balance = self.balance
        if amount > balance:
            raise ValueError("insufficient funds")
        await self.audit.record("withdraw", amount)
        self.balance = balance - amount
