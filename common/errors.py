from rest_framework import status


class ApplicationError(Exception):
    """An illegal state change (a locked submission, a closed period); the API answers 409 by default."""

    status_code: int = status.HTTP_409_CONFLICT

    def __init__(
        self, message: str, *, errors: dict[str, list[str]] | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if status_code is not None:
            self.status_code = status_code
