"""The HTTP service's settings, kept beside the service that reads them.

They are a mixin of the one `classifier.settings.Settings` (flat fields, so every
`NEEDLENS_*` name stays as it was): one typed place to configure everything, with each
part defined next to its user. Only pydantic here, so importing it loads no web framework.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, SecretStr, model_validator

from classifier.people import person_name

PASSWORD_HASH_PATTERN = r"^scrypt\$[0-9]+\$[0-9]+\$[0-9]+\$[A-Za-z0-9_=-]+\$[A-Za-z0-9_=-]+$"
"""scrypt$N$r$p$salt$hash (urlsafe base64), as `needlens review hash-password` writes it (serve/ui/passwords.py)."""


UiRole = Literal["annotator", "admin"]


class UiUser(BaseModel):
    """A review-UI account: an annotator labels; an admin also promotes and rolls back models."""

    role: UiRole
    password_hash: str = Field(pattern=PASSWORD_HASH_PATTERN, description="never the password itself")


def _account_name(name: str) -> str:
    """Sign-in strips what is typed, so a blank or padded name here is an account nobody can use;
    refused when the settings load, naming it, rather than found out at the sign-in page."""
    try:
        clean = person_name(name)
    except ValueError as exc:
        raise ValueError(f"account name {name!r}: {exc}") from None
    if clean != name:
        raise ValueError(f"account name {name!r} has spaces around it")
    return name


AccountName = Annotated[str, AfterValidator(_account_name)]


class HttpSettings(BaseModel):
    """`needlens serve`: address, limits, micro-batching, explain budget, deadlines, memory."""

    host: str = Field("127.0.0.1", min_length=1, description="an address or name; 0.0.0.0 listens on every interface")
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    api_key: SecretStr | None = Field(None, description="when set, every /v1 route needs 'Authorization: Bearer KEY'")
    max_items: int = Field(256, ge=1, description="items per classify request")
    api_max_chars: int = Field(2000, ge=1, description="characters per text in a classify request")
    max_body_bytes: int = Field(2_000_000, ge=1024, description="request bodies beyond this are refused unread")
    micro_batching: bool = True
    batch_max_texts: int = Field(64, ge=1, description="texts one micro-batched forward pass may take")
    batch_max_wait_ms: float = Field(
        0.0, ge=0.0, description="extra wait for company; at 0 a batch takes whatever queued while the model was busy"
    )
    queue_max_texts: int = Field(2048, ge=1, description="texts waiting beyond this get 503 + Retry-After")
    explain_max_texts: int = Field(16, ge=1, description="texts per classify request with explain (413 beyond)")
    explain_max_chars: int = Field(
        2000, ge=1, description="characters, all texts together, per classify request with explain (413 beyond)"
    )
    explain_concurrency: int = Field(1, ge=1, description="explain requests computed at once, beside plain ones")
    explain_batch_tokens: int = Field(
        512, ge=1, description="padded tokens per explain model pass: a plain request waits for at most one such pass"
    )
    explain_queue_max: int = Field(4, ge=0, description="explain requests waiting beyond this get 503 + Retry-After")
    request_timeout_s: float = Field(
        30.0, gt=0.0, description="a classify request not answered within this gets 503; its work is dropped"
    )
    body_timeout_s: float = Field(30.0, gt=0.0, description="a request body not received within this gets 408")
    heap_trim_s: float = Field(
        5.0, ge=0.0, description="service on glibc: give free heap pages back to the system this often; 0 turns it off"
    )
    mmap_threshold_kib: int = Field(
        0,
        ge=0,
        description="service on glibc: allocations over this are mapped apart (lower memory, slower large requests)",
    )
    reload_poll_s: float = Field(
        2.0, ge=0.0, description="how often to check a registry's ACTIVE pointer for a new model; 0 turns it off"
    )
    log_texts: bool = Field(False, description="include request texts in logs (off: privacy)")
    ui_users: dict[AccountName, UiUser] = Field(
        default_factory=dict,
        description="review UI accounts (/ui), name → role and password hash; none: nobody can sign in",
    )
    ui_secret: SecretStr | None = Field(
        None, description="signs /ui session cookies; unset: a random key per process (set it when workers > 1)"
    )
    ui_session_hours: float = Field(12.0, gt=0.0, description="a /ui sign-in lasts this long")
    ui_login_failures: int = Field(
        10, ge=1, description="wrong /ui passwords allowed per account name, and per client address, in the window"
    )
    ui_login_window_s: int = Field(
        900, ge=1, description="the moving window of ui_login_failures; past the limit /ui/login answers 429"
    )
    ui_lease_s: float = Field(
        900.0, gt=0.0, description="a review-queue item opened by an annotator is nobody else's for this long"
    )

    @model_validator(mode="after")
    def _batch_wait_within_deadline(self) -> HttpSettings:
        """A micro-batch that waits out the request deadline answers nothing: every classify
        request would end in 503 while the service looked ready."""
        if self.micro_batching and self.batch_max_wait_ms >= self.request_timeout_s * 1000:
            raise ValueError(
                f"NEEDLENS_BATCH_MAX_WAIT_MS ({self.batch_max_wait_ms:g} ms) must be under NEEDLENS_REQUEST_TIMEOUT_S "
                f"({self.request_timeout_s:g} s): a batch waiting that long answers no request in time"
            )
        return self

    @model_validator(mode="after")
    def _largest_request_fits_the_queue(self) -> HttpSettings:
        """A request of more texts than the queue holds got 503 with Retry-After, though no retry
        could ever be taken: its size, not the load, was the fault."""
        if self.queue_max_texts < self.max_items:
            raise ValueError(
                f"NEEDLENS_QUEUE_MAX_TEXTS ({self.queue_max_texts}) must be at least NEEDLENS_MAX_ITEMS "
                f"({self.max_items}): a request of that many texts could never be queued, and would be told to retry"
            )
        return self
