"""Settings, read once from the environment at start-up (interfaces.md §4), frozen and typed."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

DEVELOPMENT_SECRET = "cpa-ledger-development-secret-do-not-use-in-production"
# Production's person-key secret: as long as the HMAC-SHA-256 output (RFC 2104 advises keys no
# shorter than it), and not a repeated pattern. `python -c "import secrets;
# print(secrets.token_hex(32))"` gives 64 characters of 16 kinds.
SECRET_LENGTH_MIN_CHARS = 32
SECRET_DISTINCT_CHARS_MIN = 10


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str | None
    description: str


VARIABLES = (
    Variable("CPA_DATABASE_URL", "sqlite:///./cpa-ledger.db",
             "event store: sqlite:///PATH (embedded default) or postgresql://... (production)"),
    Variable("CPA_KAFKA_BOOTSTRAP_SERVERS", None,
             "Kafka brokers, comma-separated (consumers refuse to start without it)"),
    Variable("CPA_KAFKA_TOPICS", "cpa.feed.v1", "inbound topics, comma-separated"),
    Variable("CPA_KAFKA_GROUP", "cpa-ledger", "Kafka consumer group"),
    Variable("CPA_PERSON_KEY_SECRET", None,
             "person-key HMAC secret (development secret with a warning when unset; "
             "required when CPA_ENV=production, at least 32 characters, 10 of them different);"
             " a store refuses any secret but the one it was written with"),
    Variable("CPA_API_TOKENS_FILE", None,
             "bearer tokens (SHA-256 hashed) and their scopes; unset: none accepted "
             "except in development"),
    Variable("CPA_ENV", "development", "development or production"),
    Variable("CPA_SHARD_MAP", None,
             "TOML file mapping partitions of the inbound topics to shard databases (unset:"
             " the single store at CPA_DATABASE_URL owns every partition)"),
    Variable("CPA_READY_LAG_MAX_EVENTS", "10000",
             "on PostgreSQL, /readyz fails above this many events not yet projected"),
)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    kafka_bootstrap_servers: str | None
    kafka_topics: tuple[str, ...]
    kafka_group: str
    person_key_secret: bytes
    secret_is_development_default: bool
    api_tokens_file: str | None
    environment: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        values = dict(os.environ if environ is None else environ)
        environment = values.get("CPA_ENV", "development")
        if environment not in ("development", "production"):
            raise ConfigurationError("CPA_ENV must be development or production")
        secret = values.get("CPA_PERSON_KEY_SECRET")
        if environment == "production":
            check_production_secret(secret)
        return cls(
            database_url=values.get("CPA_DATABASE_URL") or "sqlite:///./cpa-ledger.db",
            kafka_bootstrap_servers=values.get("CPA_KAFKA_BOOTSTRAP_SERVERS") or None,
            kafka_topics=_split(values.get("CPA_KAFKA_TOPICS") or "cpa.feed.v1"),
            kafka_group=values.get("CPA_KAFKA_GROUP") or "cpa-ledger",
            person_key_secret=(secret or DEVELOPMENT_SECRET).encode("utf-8"),
            secret_is_development_default=not secret,
            api_tokens_file=values.get("CPA_API_TOKENS_FILE") or None,
            environment=environment,
        )

    def warn_if_insecure(self) -> None:
        if self.secret_is_development_default:
            print("warning: CPA_PERSON_KEY_SECRET is unset; using the development secret",
                  file=sys.stderr)


def check_production_secret(secret: str | None) -> None:
    """Production refuses a missing, short, repetitive or development secret."""
    if not secret:
        raise ConfigurationError("CPA_PERSON_KEY_SECRET is required when CPA_ENV=production")
    if secret == DEVELOPMENT_SECRET:
        raise ConfigurationError("CPA_PERSON_KEY_SECRET is the development secret, refused when"
                                 " CPA_ENV=production")
    if len(secret) < SECRET_LENGTH_MIN_CHARS or len(set(secret)) < SECRET_DISTINCT_CHARS_MIN:
        raise ConfigurationError(
            f"CPA_PERSON_KEY_SECRET is too weak for CPA_ENV=production: it needs at least"
            f" {SECRET_LENGTH_MIN_CHARS} characters, {SECRET_DISTINCT_CHARS_MIN} of them"
            " different (e.g. python -c 'import secrets; print(secrets.token_hex(32))')")


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def describe() -> str:
    """The variables, their defaults and meaning (for --help and the README)."""
    return "\n".join(
        f"  {v.name:<28} {v.description} (default: {v.default or 'unset'})" for v in VARIABLES
    )
