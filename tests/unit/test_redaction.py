"""Redaction: each kind of secret is masked, ordinary code is not, configured secrets never survive."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guardrails.text.redaction import Redactor

# Test values are assembled from parts so that no file in the repository looks like a leaked credential.
_RNG = random.Random(7)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _random(n: int, alphabet: str = _ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


_B64_KEY = base64.b64encode(_RNG.randbytes(30)).decode()
_AWS_SECRET = _random(30) + "/" + _random(9)
_HEX_KEY = "".join(_RNG.choice("0123456789abcdef") for _ in range(32))
_JWT = "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + "." + _random(43)

SECRETS = [
    ("aws_access_key", "key id {} in the config", "AKIA" + _random(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
    ("aws_access_key", "temporary {}", "ASIA" + _random(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")),
    ("aws_secret_key", "aws_secret_access_key = {}", _AWS_SECRET),
    ("aws_secret_key", 'AWS_SECRET_ACCESS_KEY: "{}"', _AWS_SECRET),
    ("github_token", "token {}", "ghp_" + _random(36)),
    ("github_token", "GH: {} end", "gho_" + _random(36)),
    ("github_token", "{}", "ghs_" + _random(36)),
    ("github_token", "pat {}", "github_pat_" + _random(22) + "_" + _random(59)),
    ("slack_token", "hook {}", "xoxb-" + _random(12, "0123456789") + "-" + _random(24)),
    ("google_api_key", "maps({})", "AIza" + _random(35)),
    ("stripe_key", "charge with {}", "sk_live_" + _random(24)),
    ("stripe_key", "restricted {}", "rk_live_" + _random(24)),
    ("openai_key", "client = Client({})", "sk-proj-" + _random(48)),
    ("anthropic_key", "key {}", "sk-ant-api03-" + _random(80)),
    ("jwt", "Authorization header carries {}", _JWT),
    ("high_entropy", "blob = {}", _B64_KEY),
    ("high_entropy", "digest({})", _HEX_KEY),
]


@pytest.mark.parametrize(("kind", "template", "secret"), SECRETS)
def test_each_kind_of_secret_is_masked(kind, template, secret):
    text = template.format(secret)

    redacted, count = Redactor().redact(text)

    assert secret not in redacted
    assert f"[REDACTED:{kind}]" in redacted
    assert count == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('password = "hunter2!x"', 'password = "[REDACTED:assigned_secret]"'),
        ('"apiKey": "a8f5f167f44f4964e6c998dee827110c"', '"apiKey": "[REDACTED:assigned_secret]"'),
        ("DB_PASSWORD=correcthorse", "DB_PASSWORD=[REDACTED:assigned_secret]"),
        ("export API_TOKEN=abc123def456", "export API_TOKEN=[REDACTED:assigned_secret]"),
        ("  secret: mysecretvalue9", "  secret: [REDACTED:assigned_secret]"),
        ('\tPassword: "x7y8z9w0",', '\tPassword: "[REDACTED:assigned_secret]",'),
        ("client_secret = p@ss-w0rd!", "client_secret = [REDACTED:assigned_secret]"),
        ("db_url = 'postgres://admin:hunter2@db.internal:5432/app'", None),
    ],
)
def test_assignments_mask_only_the_value(line, expected):
    redacted, count = Redactor().redact(line)

    if expected is None:
        assert redacted == "db_url = 'postgres://[REDACTED:url_credentials]@db.internal:5432/app'"
    else:
        assert redacted == expected
    assert count == 1


def test_url_credentials_keep_scheme_and_host():
    text = "git clone https://deploy:Zr9q2LmX@git.example.com/team/app.git"

    redacted, count = Redactor().redact(text)

    assert redacted == "git clone https://[REDACTED:url_credentials]@git.example.com/team/app.git"
    assert count == 1


def test_url_credentials_with_an_at_sign_in_the_password_leave_nothing():
    redacted, _ = Redactor().redact("redis://default:p@ss@cache.internal:6379/0")

    assert redacted == "redis://[REDACTED:url_credentials]@cache.internal:6379/0"


@pytest.mark.parametrize(
    "line",
    [
        "def parse_tokens(self, text: str) -> list[Token]:",
        "token = next(tokens)",
        "password = getpass.getpass()",
        "secret_key = settings.SECRET_KEY",
        "api_key: str | None = None",
        "    token: Optional[str]",
        "    private_key: PKCS7PrivateKeyTypes,",
        "MAX_TOKENS=4096",
        'if token == "integer":',
        'token_type = "Bearer"',
        "GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
        "password: ${DB_PASSWORD}",
        'headers = {"Authorization": f"Bearer {self.token}"}',
        'field = "challengePassword"',
        'print("place your token here")',
        "request_id = 550e8400-e29b-41d4-a716-446655440000",
        'greeting = base64.b64decode("aGVsbG8gd29ybGQ=")',
        "Fixed in 3f786850e387550fdab836ed7e6dc881de23001b, see the log.",
        "sha256 " + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "see https://github.com/o/r/blob/3f786850e387550fdab836ed7e6dc881de23001b/src/app.py#L10",
        "class AbstractSingletonProxyFactoryBeanProvider2(Base):",
        "warnings.warn(PytestRemovedIn10Warning(message))",
        "def test_redaction_keeps_snake_case_names_2():",
        "import src/components/UserProfileSettings/index.tsx",
        "task-queue-worker-deployment-name-v2",
        "============================================================",
        'BEGIN = "-----BEGIN RSA PRIVATE KEY-----"',
        "PWD=/home/builder/src",
    ],
)
def test_ordinary_code_is_left_alone(line):
    redacted, count = Redactor().redact(line)

    assert (redacted, count) == (line, 0)


def test_a_multi_line_private_key_block_is_masked_whole():
    lines = [
        "KEY = '''",
        "-----BEGIN RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA" + _random(48),
        _random(64),
        "-----END RSA PRIVATE KEY-----",
        "'''",
        "after = 1",
    ]

    redacted, count = Redactor().redact_lines(lines)

    assert redacted == ["KEY = '''", *["[REDACTED:private_key]"] * 4, "'''", "after = 1"]
    assert count == 1


def test_a_private_key_in_yaml_and_in_one_text_is_masked():
    text = (
        "tls:\n  key: |\n    -----BEGIN PRIVATE KEY-----\n    QUJD\n    -----END PRIVATE KEY-----\n"
        "  ok: true\n"
    )

    redacted, count = Redactor().redact(text)

    assert "QUJD" not in redacted and "BEGIN" not in redacted
    assert redacted.endswith("  ok: true\n") and redacted.count("\n") == text.count("\n")
    assert count == 1


def test_an_unterminated_private_key_masks_everything_after_it():
    lines = ["x = 1", "-----BEGIN OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXktdjEAAAAA", "more"]

    redacted, _ = Redactor().redact_lines(lines)

    assert redacted == ["x = 1", *["[REDACTED:private_key]"] * 3]


def test_a_private_key_on_one_line_with_escaped_newlines_is_masked():
    line = (
        '{"key": "-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEI'
        + _random(30)
        + '\\n-----END EC PRIVATE KEY-----\\n"}'
    )

    redacted, count = Redactor().redact(line)

    assert "MHcCAQEEI" not in redacted and "[REDACTED:private_key]" in redacted
    assert count == 1


def test_known_secrets_are_masked_exactly_and_short_ones_ignored():
    redactor = Redactor(["s3rv1ce-pass", "abc"])

    redacted, count = redactor.redact("login with s3rv1ce-pass, abc stays")

    assert redacted == "login with [REDACTED:known_secret], abc stays"
    assert count == 1


def test_overlapping_known_secrets_leave_no_fragment():
    redactor = Redactor(["abcdef123", "ef123456"])

    redacted, _ = redactor.redact("xxabcdef123456yy")

    assert redacted == "xx[REDACTED:known_secret]yy"


def test_a_known_secret_that_overlaps_the_marker_text_still_does_not_survive():
    redactor = Redactor(["REDACTED", "known_secret]"])

    redacted, _ = redactor.redact("value REDACTED here")

    assert "REDACTED" not in redacted and "known_secret]" not in redacted


def test_counts_every_secret_on_a_line():
    line = f"a={_random(3)} ghp_{_random(36)} and AKIA{_random(16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}"

    _, count = Redactor().redact(line)

    assert count == 2


def test_line_count_is_preserved():
    lines = ["one", "password = 'hunter2!'", "", "three"]

    redacted, _ = Redactor().redact_lines(lines)

    assert len(redacted) == len(lines)
    assert redacted[0] == "one" and redacted[3] == "three"


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
_SECRET = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=6, max_size=40)


@given(prefix=_TEXT, secret=_SECRET, suffix=_TEXT)
def test_a_known_secret_never_survives_redaction(prefix, secret, suffix):
    redacted, _ = Redactor([secret]).redact(prefix + secret + suffix)

    assert secret not in redacted


@given(
    before=st.lists(_TEXT, max_size=3),
    secret=_SECRET.filter(lambda s: "\n" not in s),
    after=st.lists(_TEXT, max_size=3),
)
def test_a_known_secret_never_survives_line_redaction(before, secret, after):
    lines = [*before, f"x {secret} y", *after]

    redacted, _ = Redactor([secret]).redact_lines(lines)

    assert all(secret not in line for line in redacted)
