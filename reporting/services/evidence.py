"""Evidence files: checked by content (magic bytes), not by the name the client gave; stored outside
the web root under a random name; SHA-256 recorded; removal is a soft delete with a reason."""

import hashlib
import uuid
import zipfile
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import ApplicationError
from reporting.models import Evidence, Submission
from reporting.services.submissions import ensure_editable, submission_lock

# extension → (content type, magic prefix). Office files are ZIP containers checked further below.
ALLOWED_TYPES: dict[str, tuple[str, bytes]] = {
    "pdf": ("application/pdf", b"%PDF-"),
    "png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    "jpg": ("image/jpeg", b"\xff\xd8\xff"),
    "jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK\x03\x04"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
}
# A ZIP that inflates past this is treated as a bomb.
MAX_UNPACKED_BYTES = 200 * 1024 * 1024


def evidence_root() -> Path:
    root = Path(settings.PRIVATE_FILES_ROOT) / "evidence"
    root.mkdir(parents=True, exist_ok=True)
    return root


def evidence_path(evidence: Evidence) -> Path:
    return evidence_root() / evidence.storage_name


def _check_office(path: Path, ext: str) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise ValidationError({"file": [_("压缩内容过大，疑似压缩炸弹，已拒绝。")]})
            types = archive.getinfo("[Content_Types].xml") if "[Content_Types].xml" in names else None
            # A .docm/.xlsm renamed .docx/.xlsx declares itself macro-enabled whatever its VBA part is called.
            macro_enabled = (
                types is not None
                and types.file_size <= 1024 * 1024
                and b"macroenabled" in (archive.read(types).lower())
            )
    except zipfile.BadZipFile as exc:
        raise ValidationError({"file": [_("文件已损坏或不是有效的 Office 文件。")]}) from exc
    if macro_enabled or any(name.lower().endswith("vbaproject.bin") for name in names):
        raise ValidationError({"file": [_("不接受含宏的文件。")]})
    expected = "word/" if ext == "docx" else "xl/"
    if not any(name.startswith(expected) for name in names):
        raise ValidationError({"file": [_("文件内容与扩展名 .%(ext)s 不符。") % {"ext": ext}]})


@transaction.atomic
def evidence_attach(
    *,
    submission: Submission,
    user: User,
    upload: IO[bytes],
    filename: str,
    description: str = "",
    measure: Any = None,
    indicator: Any = None,
    expected_version: int | None = None,
) -> Evidence:
    submission = submission_lock(submission=submission, expected_version=expected_version)
    ensure_editable(submission=submission, user=user)
    name = Path(filename or "").name[:255]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED_TYPES:
        raise ValidationError(
            {
                "file": [
                    _("不接受 .%(ext)s 文件；允许的类型：%(allowed)s。")
                    % {"ext": ext or "?", "allowed": ", ".join(ALLOWED_TYPES)}
                ]
            }
        )
    if len(description) > 255:
        raise ValidationError({"description": [_("说明不能超过 255 个字符。")]})
    active = Evidence.objects.filter(submission=submission, removed_at__isnull=True).count()
    if active >= settings.EVIDENCE_MAX_FILES_PER_SUBMISSION:
        raise ValidationError(
            {"file": [_("每份报表最多 %(n)s 个佐证材料。") % {"n": settings.EVIDENCE_MAX_FILES_PER_SUBMISSION}]}
        )
    content_type, magic = ALLOWED_TYPES[ext]
    storage_name = uuid.uuid4().hex
    path = evidence_root() / storage_name
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with path.open("wb") as out:
            while chunk := upload.read(1024 * 1024):
                if len(head) < 16:
                    head += chunk[:16]
                size += len(chunk)
                if size > settings.EVIDENCE_MAX_BYTES:
                    raise ValidationError(
                        {
                            "file": [
                                _("文件超过大小上限 %(mb)s MB。") % {"mb": settings.EVIDENCE_MAX_BYTES // (1024 * 1024)}
                            ]
                        }
                    )
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise ValidationError({"file": [_("文件为空。")]})
        if not head.startswith(magic):
            raise ValidationError({"file": [_("文件内容与扩展名 .%(ext)s 不符。") % {"ext": ext}]})
        if ext in ("docx", "xlsx"):
            _check_office(path, ext)
        evidence = Evidence(
            submission=submission,
            measure=measure,
            indicator=indicator,
            storage_name=storage_name,
            original_name=name,
            content_type=content_type,
            size=size,
            sha256=digest.hexdigest(),
            description=description.strip(),
            uploaded_by=user,
        )
        evidence.full_clean()
        evidence.save()
        submission.version += 1
        submission.save()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    # Should an enclosing transaction roll back after this returns, the file is left without a row:
    # harmless (never served, random name), unlike a row without its file.
    return evidence


@transaction.atomic
def evidence_remove(*, evidence: Evidence, user: User, reason: str) -> Evidence:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError({"reason": [_("删除佐证材料须填写原因。")]})
    submission = submission_lock(submission=evidence.submission, expected_version=None)
    ensure_editable(submission=submission, user=user)
    evidence = Evidence.objects.select_for_update().get(pk=evidence.pk)
    if evidence.removed_at is not None:
        raise ApplicationError(_("该佐证材料已删除。"))
    evidence.removed_at = timezone.now()
    evidence.removed_by = user
    evidence.removal_reason = reason.strip()[:255]
    evidence._change_reason = evidence.removal_reason  # type: ignore[attr-defined]
    evidence.save()
    submission.version += 1
    submission.save()
    return evidence
