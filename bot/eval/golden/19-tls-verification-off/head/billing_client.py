"""A client for the billing service."""

import requests

BASE_URL = "https://billing.internal.example"


def invoices(customer_id, token):
    """The customer's invoices."""
    response = requests.get(
        f"{BASE_URL}/customers/{customer_id}/invoices",
        headers={"Authorization": f"Bearer {token}"},
        verify=False,
        timeout=10,
    )
    response.raise_for_status()
    return response.json()
