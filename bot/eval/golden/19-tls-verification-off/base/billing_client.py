"""A client for the billing service."""

import requests

BASE_URL = "https://billing.internal.example"
