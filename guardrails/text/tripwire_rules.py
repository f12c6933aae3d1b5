"""The tripwire's table: what text addressed to a reviewer or an AI looks like, and the words it needs."""

from __future__ import annotations

import re

_AI = r"(?:ai|a\.i\.|automated|automatic|llm|language[- ]model|gpt|bot|robot|machine)"
_WORK = r"(?:change|pr|pull[- ]request|patch|diff|commit|code|merge|mr)s?"
_I = re.IGNORECASE

# The table: (rule, pattern); a rule may have several rows. Each row is about a reader who decides, never
# about the code's own subject, so `approve(order)`, "the manager must approve refunds" or a Reviewed-by
# trailer pass (tests/unit/test_tripwire.py holds the hits and near-misses).
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "addressed_to_ai",
        re.compile(
            rf"\b{_AI}[- ](?:code[- ])?(?:reviewers?|assistants?|agents?)\s*(?:[:,]|must|should|shall|"
            r"need|are required|have to|will|please)",
            _I,
        ),
    ),
    (
        "addressed_to_ai",
        re.compile(
            r"\b(?:dear|hey|hello|attention|note (?:to|for))\s+(?:the\s+)?(?:ai|llm|assistant|model|"
            r"language model|reviewers?|bot)\b"
            r"|\bthe (?:assistant|llm|ai) (?:must|should|shall|will|has to|is required to)\b"
            r"|\byou are (?:an? )?(?:ai|assistant|large language model|language model|llm|code reviewer)\b",
            _I,
        ),
    ),
    (
        "ignore_instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,30}\b(?:previous|prior|above|earlier|all|"
            r"any|your|system)\b[^.\n]{0,20}\b(?:instructions?|prompts?|rules|guidelines|directions)\b",
            _I,
        ),
    ),
    (
        "instruction_to_approve",
        re.compile(
            rf"\b(?:must|should|shall|please|now|only)\s+(?:now\s+|only\s+|simply\s+|just\s+)?"
            rf"(?:approve|lgtm|sign off on)\s+(?:this|the|these|my)\s+{_WORK}\b"
            r"|\bplease\s+approve\b"
            rf"|(?:^|[.!:;#*/]\s*)approve\s+(?:this|these|my)\s+{_WORK}\b"
            r"|\b(?:reply|respond|answer|output|return)\s+(?:only\s+)?with\s+(?:an?\s+|the\s+)?"
            r"(?:verdict|approval|approve|lgtm|empty findings|no findings)"
            r"|\bverdict\s+(?:is\s+)?[\"'`]?approve"
            r"|\b(?:do not|don't|must not|never|not to)\s+(?:report|flag)\s+(?:anything|any\b|findings|"
            r"issues|problems|this)",
            _I | re.MULTILINE,
        ),
    ),
    (
        "claims_approval",
        re.compile(
            r"\bpre-?approved\b|\bverified safe\b|\bhas been (?:audited|pre-?reviewed|signed off)\b"
            r"|\b(?:approved|signed off|cleared|audited|whitelisted)\s+by\s+(?:the\s+)?(?:security|"
            r"maintainers?|admins?|compliance)\b"
            r"|\breviewed[- ]by\b[^\n]{0,60}\bapproved\b"
            r"|\b(?:the\s+)?(?:code\s+)?review (?:is|was|has been) (?:complete|done|finished)\b",
            _I,
        ),
    ),
    (
        "verdict_json",
        re.compile(
            r"[\"']verdict[\"']\s*:\s*[\"'](?:approve|request_changes|comment)[\"']"
            r"|[\"']findings[\"']\s*:\s*\[\s*\]",
            _I,
        ),
    ),
    (
        "prompt_marker",
        re.compile(
            r"</?untrusted-[\w-]*>|<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>"
            r"|<</?SYS>>|</?(?:system|system-prompt|instructions)>"
            r"|^\W{0,4}#{1,4}\s*(?:system|instructions?|response)\s*:?\s*$"
            r"|\bsystem (?:notice|prompt|message|override)\b",
            _I | re.MULTILINE,
        ),
    ),
    # Chat role labels and Llama's [INST] count in upper case only: `system:` is an everyday YAML key.
    ("prompt_marker", re.compile(r"(?:^|[\"'`#/*]\s*)(?:SYSTEM|ASSISTANT)\s*:|\[/?INST\]")),
)

# Every row above needs one of these words (lowercased) or a non-ASCII character: a line with none is
# skipped without running the rows. Keep this list in step with the table (the table test checks it).
WORDS = (
    "review", "assistant", "agent", "dear", "hey", "hello", "attention", "note", "the llm", "the ai",
    "you are", "instruction", "prompt", "rules", "guideline", "direction", "approv", "lgtm", "sign off",
    "signed off", "verdict", "finding", "report", "flag", "verified", "has been", "cleared", "audited",
    "whitelisted", "untrusted", "<|", "sys>>", "system", "response", "[inst", "[/inst",
)  # fmt: skip
