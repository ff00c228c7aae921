"""Errors that carry their HTTP status; one handler renders OpenAI's error body."""

from __future__ import annotations


class CauserieError(Exception):
    """Base class: services raise these, never HTTP exceptions."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code

    def body(self) -> dict:
        """The OpenAI error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(CauserieError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(CauserieError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(CauserieError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class PayloadTooLarge(CauserieError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class ContextLengthExceeded(InvalidRequest):
    """A prompt longer than the model's context; the counts travel in the body (extension)."""

    code = "context_length_exceeded"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = "messages",
        tokens: int | None = None,
        limit: int | None = None,
        code: str | None = None,
    ):
        super().__init__(message, param=param, code=code)
        self.tokens = tokens
        self.limit = limit

    @classmethod
    def counted(cls, tokens: int, limit: int) -> ContextLengthExceeded:
        """OpenAI's wording, so that clients parsing it keep working."""
        return cls(
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {tokens} tokens. Please reduce the length of the messages.",
            tokens=tokens,
            limit=limit,
        )


class MessageTooLong(ContextLengthExceeded):
    """One conversation message that cannot fit the model's context even alone."""

    code = "message_too_long"

    def __init__(self, tokens: int, limit: int, chars: int):
        super().__init__(
            f"This message is about {tokens} tokens ({chars} characters); this model reads "
            f"at most {limit} tokens of a message. Shorten it or attach it as a document.",
            param="content",
            tokens=tokens,
            limit=limit,
        )
        self.chars = chars

    def body(self) -> dict:
        """Extension (/api only; /v1 keeps OpenAI's four fields): the sizes, for the UI."""
        out = super().body()
        out["error"].update(tokens=self.tokens, limit=self.limit, chars=self.chars)
        return out


class Busy(CauserieError):
    """Every slot and queue place of a model is taken."""

    status = 429
    type = "rate_limit_error"
    code = "server_busy"

    def __init__(self, message: str, *, retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after


class EngineError(CauserieError):
    status = 500
    type = "server_error"
    code = "engine_error"


class ModelNotReady(CauserieError):
    status = 503
    type = "server_error"
    code = "model_not_ready"


class UpstreamError(CauserieError):
    """A remote model server failed; `retryable` says whether the same call may succeed."""

    status = 502
    type = "server_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        retryable: bool = False,
        retry_after: float | None = None,
        client_fault: bool = False,
    ):
        super().__init__(message)
        self.kind = kind  # a metric label: connect, timeout, http_429, http_5xx, malformed...
        self.retryable = retryable
        self.retry_after = retry_after
        self.client_fault = client_fault  # the request itself was refused (400, 413, 422)
        if client_fault:
            self.status, self.type, self.code = 400, "invalid_request_error", "upstream_rejected"


class Unavailable(CauserieError):
    """No target of a model could answer."""

    status = 503
    type = "server_error"
    code = "model_unavailable"

    def __init__(self, message: str, *, retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after
